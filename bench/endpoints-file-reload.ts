/**
 * `make bench-endpoints-file`: what reloading a large endpoints file costs the
 * lookaside's event loop and memory, parsed in place on the main thread (as
 * before) and in a worker thread (as now).
 *
 * Each run is a fresh process (so its peak RSS is its own): FileDiscovery opens
 * a small file, the large one is copied over it, and `reload()` reads it while a
 * 1 ms interval timer measures the longest the event loop went without turning
 * (what a Resolve arriving then would have waited). Sizes: ENDPOINTS_FILE_MAX_BYTES
 * and, for the main thread only, 5 MB (the size of the report that started this;
 * now refused). Env: BENCH_ROUNDS (runs per case, 3).
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { silentLogger } from '../src/common/logging.js';
import { parseEndpointsFile } from '../src/lookaside/discovery/endpoints-file.js';
import { ENDPOINTS_FILE_MAX_BYTES, FileDiscovery } from '../src/lookaside/discovery/file.js';

type Mode = 'main-thread' | 'worker';

interface RunResult {
  readonly mode: Mode;
  readonly bytes: number;
  readonly reloadMs: number;
  readonly longestStallMs: number;
  readonly timerTurns: number;
  readonly peakRssMb: number;
}

/** A realistic endpoints file of at most `bytes`: Services of 200 endpoints each. */
function endpointsFile(bytes: number): string {
  const lines = ['services:'];
  let size = lines[0]?.length ?? 0;
  for (let service = 0; size < bytes; service++) {
    const header = `  - name: svc-${service}\n    namespace: default\n    endpoints:`;
    lines.push(header);
    size += header.length + 1;
    for (let i = 0; i < 200 && size < bytes; i++) {
      const line = `      - { address: "10.${service % 250}.${Math.floor(i / 250)}.${(i % 250) + 1}:50051", pod: svc-${service}-${i}, zone: zone-a }`;
      lines.push(line);
      size += line.length + 1;
    }
  }
  while (size > bytes) size -= (lines.pop()?.length ?? 0) + 1;
  return `${lines.join('\n')}\n`;
}

/** One measurement, in this (fresh) process. */
async function measure(mode: Mode, largeFile: string): Promise<RunResult> {
  const directory = await mkdtemp(join(tmpdir(), 'lookaside-bench-file-'));
  const path = join(directory, 'endpoints.yaml');
  await writeFile(path, 'services: []\n');
  const parse = mode === 'main-thread' ? async (text: string) => parseEndpointsFile(text) : undefined;
  const source = await FileDiscovery.open(path, silentLogger(), { watch: false, pollIntervalMs: 0, maxBytes: 10_000_000, parse });
  await copyFile(largeFile, path);

  let last = performance.now();
  let longestStallMs = 0;
  let timerTurns = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestStallMs = Math.max(longestStallMs, now - last);
    last = now;
    timerTurns++;
  }, 1);
  const startedMs = performance.now();
  await source.reload();
  const reloadMs = performance.now() - startedMs;
  longestStallMs = Math.max(longestStallMs, performance.now() - last);
  clearInterval(ticker);
  await source.close();
  await rm(directory, { recursive: true, force: true });
  return {
    mode,
    bytes: statSync(largeFile).size,
    reloadMs,
    longestStallMs,
    timerTurns,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const [mode, largeFile] = process.argv.slice(2);
  if (mode === 'main-thread' || mode === 'worker') {
    process.stdout.write(`${JSON.stringify(await measure(mode, largeFile ?? ''))}\n`);
    return;
  }
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? '3');
  const directory = await mkdtemp(join(tmpdir(), 'lookaside-bench-files-'));
  const cases: Array<{ mode: Mode; bytes: number }> = [
    { mode: 'main-thread', bytes: ENDPOINTS_FILE_MAX_BYTES },
    { mode: 'worker', bytes: ENDPOINTS_FILE_MAX_BYTES },
    { mode: 'main-thread', bytes: 5_000_000 },
  ];
  console.log('| parsed on | file bytes | reload ms | longest event-loop stall ms | 1 ms timer turns during reload | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const { mode, bytes } of cases) {
    const file = join(directory, `${bytes}.yaml`);
    await writeFile(file, endpointsFile(bytes));
    for (let round = 0; round < rounds; round++) {
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), mode, file], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`run failed: ${child.stderr}`);
      const result = JSON.parse(child.stdout) as RunResult;
      console.log(
        `| ${mode} | ${result.bytes} | ${result.reloadMs.toFixed(0)} | ${result.longestStallMs.toFixed(0)} | ${result.timerTurns} | ${result.peakRssMb.toFixed(0)} |`,
      );
    }
  }
  await rm(directory, { recursive: true, force: true });
}

await main();
