/**
 * `make bench-idle`: the built lookaside's idle memory in Kubernetes mode, as
 * the image runs it under deploy/base's memory limit (the node flags
 * deploy/node-limits.sh prints for that limit). A real kube-apiserver (the
 * binaries of `make kube-binaries`) holds IDLE_SERVICES Services of 3 ready
 * endpoints; the lookaside watches them through a kubeconfig, each is resolved
 * once (a full rotation), then the process is left alone for IDLE_SECONDS
 * while its RSS is sampled every second. At the end node writes a diagnostic
 * report (`--report-on-signal`), read for the heap's spaces, so the figure
 * splits into V8 heap, code and the rest.
 *
 * Env (all optional): IDLE_SERVICES (3), IDLE_SECONDS (30), IDLE_NODE_ARGS
 * (node flags in place of the image's, space-separated), IDLE_ENV (extra env
 * for the lookaside, k=v,…). Exits 1 when the bench cannot run.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LookasideUnderTest, readyView } from '../test/apiserver/lookaside.js';
import { addressOf, Cluster, endpointSlice, podIp, uniqueName } from '../test/apiserver/objects.js';
import { ControlPlane, findBinaries } from '../test/support/control-plane.js';
import { delay } from '../test/support/process.js';
import { deployedNodeFlags, envInteger, memoryOf } from './bench-process.js';

const ENDPOINTS = 3;
const MIB = 2 ** 20;

interface HeapSpace {
  readonly memorySize: number;
  readonly used: number;
}

interface DiagnosticReport {
  readonly javascriptHeap: { readonly totalMemory: number; readonly usedMemory: number; readonly heapSpaces: Record<string, HeapSpace> };
  readonly resourceUsage: { readonly rss: number };
}

async function main(): Promise<void> {
  const serviceCount = envInteger('IDLE_SERVICES', 3);
  const idleSeconds = envInteger('IDLE_SECONDS', 30);
  const override = process.env['IDLE_NODE_ARGS'];
  const limitFlags = override === undefined ? deployedNodeFlags() : override.split(' ').filter((arg) => arg !== '');
  const extraEnv = Object.fromEntries((process.env['IDLE_ENV'] ?? '').split(',').filter((pair) => pair.includes('=')).map((pair) => pair.split('=', 2) as [string, string]));
  const binaries = findBinaries();
  if (typeof binaries === 'string') throw new Error(`${binaries} (make kube-binaries)`);

  const reports = await mkdtemp(join(tmpdir(), 'bench-idle-'));
  const plane = await ControlPlane.start({ binaries });
  let lookaside: LookasideUnderTest | undefined;
  try {
    const cluster = new Cluster(plane.admin);
    const namespace = uniqueName('idle');
    await cluster.createNamespace(namespace);
    const services = Array.from({ length: serviceCount }, (_, i) => `svc-${i}`);
    for (const [index, name] of services.entries()) {
      await cluster.createService(namespace, name);
      await cluster.createSlice(endpointSlice(namespace, name, `${name}-a`, Array.from({ length: ENDPOINTS }, (_, n) => ({ ip: podIp(100 + index, n) }))));
    }
    const kubeconfig = plane.writeKubeconfig('bench-idle', plane.adminToken);
    const nodeArgs = [...limitFlags, '--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reports}`];
    lookaside = await LookasideUnderTest.start(kubeconfig, extraEnv, nodeArgs);
    const pid = lookaside.process.child.pid as number;
    console.log(`lookaside: node ${[...limitFlags, 'dist/src/lookaside/main.js'].join(' ')}; ${serviceCount} Services of ${ENDPOINTS} endpoints`);
    const listening = memoryOf(pid).rss;
    for (const [index, name] of services.entries()) {
      const expected = readyView(Array.from({ length: ENDPOINTS }, (_, n) => addressOf(podIp(100 + index, n))));
      await lookaside.waitForView(namespace, name, expected, { timeoutMs: 30_000 });
    }
    const resolved = memoryOf(pid).rss;
    const samples: number[] = [];
    for (let second = 0; second < idleSeconds; second += 1) {
      await delay(1_000);
      samples.push(memoryOf(pid).rss);
    }
    const report = await diagnosticReport(lookaside, reports);
    const sorted = [...samples].sort((a, b) => a - b);
    console.log(`RSS listening ${mib(listening)} MB; after the first Resolves ${mib(resolved)} MB`);
    console.log(
      `RSS idle over ${idleSeconds} s: min ${mib(sorted[0] ?? 0)} / median ${mib(sorted[Math.floor(sorted.length / 2)] ?? 0)} / max ${mib(sorted[sorted.length - 1] ?? 0)} MB; peak (VmHWM) ${mib(memoryOf(pid).peak)} MB`,
    );
    printBreakdown(report);
  } finally {
    await lookaside?.stop();
    await plane.stop();
    await rm(reports, { recursive: true, force: true });
  }
}

/** Asks the lookaside for a diagnostic report (SIGUSR2) and reads it. */
async function diagnosticReport(lookaside: LookasideUnderTest, directory: string): Promise<DiagnosticReport> {
  lookaside.process.child.kill('SIGUSR2');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const names = (await readdir(directory)).filter((name) => name.endsWith('.json'));
    if (names.length > 0) {
      try {
        return JSON.parse(await readFile(join(directory, names[0] as string), 'utf8')) as DiagnosticReport;
      } catch {
        // Still being written.
      }
    }
    if (Date.now() > deadline) throw new Error('no diagnostic report from the lookaside within 30 s');
    await delay(200);
  }
}

function printBreakdown(report: DiagnosticReport): void {
  const heap = report.javascriptHeap;
  const rss = report.resourceUsage.rss;
  console.log(`at the report: RSS ${mib(rss)} MB, of which V8 heap ${mib(heap.totalMemory)} MB committed (${mib(heap.usedMemory)} MB used); outside the heap ${mib(rss - heap.totalMemory)} MB`);
  for (const [name, space] of Object.entries(heap.heapSpaces)) {
    if (space.memorySize === 0) continue;
    console.log(`  ${name.padEnd(24)} ${mib(space.memorySize).padStart(6)} MB, ${mib(space.used).padStart(6)} MB used`);
  }
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

main().catch((error: unknown) => {
  console.error(`bench-idle FAILED: ${error instanceof Error ? error.message : String(error)}`);
  // A lookaside that never said it was listening still runs: exiting kills it (killOnExit).
  process.exit(1);
});
