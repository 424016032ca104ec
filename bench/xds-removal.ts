/**
 * The second part of `make bench-xds`, on a real kube-apiserver (the binaries
 * of `make kube-binaries`; skipped with a notice without them): how long from
 * an EndpointSlice write that takes a pod out (its endpoint turns not ready,
 * as the EndpointSlice controller writes it) until a stock grpc-js-xds client
 * stops calling it. The lookaside runs as in a cluster (DISCOVERY=kubernetes,
 * a kubeconfig); three greet servers are the Service's pods, one slice with
 * their three addresses; this process is the xDS client, calling Greet one
 * call after another without pause.
 *
 * The API server refuses loopback addresses in a slice, so the whole run goes
 * into a network namespace of its own (`unshare -n`, root): there the pods get
 * 198.18.0.1-3 (the benchmarking range) on that namespace's loopback device,
 * which has no way out, and the API server and etcd listen on its 127.0.0.1.
 *
 * Per round: the write is sent at t0; the delay is when the last call that
 * still reached the pod ended, counted from t0 (0 when none did). Then the pod
 * is made ready again and the next round waits until it answers. Not a test:
 * its figures depend on the machine. XDS_REMOVAL_ROUNDS (40) changes the run.
 */
import { spawnSync } from 'node:child_process';

import { type Client } from '@grpc/grpc-js';

import { callGreet, openGreetChannel } from '../src/greet/gateway/greet-client.js';
import { Cluster, endpointSlice, GRPC_PORT, summarize } from '../test/apiserver/objects.js';
import { LookasideUnderTest } from '../test/apiserver/lookaside.js';
import { ControlPlane, findBinaries } from '../test/support/control-plane.js';
import { Processes, startGreetServer, type GreetServerHandle } from '../test/support/greet-stack.js';
import { delay } from '../test/support/process.js';
import { xdsBootstrap } from '../test/support/xds-greet-client.js';
import { envInteger } from './bench-process.js';

const ROUNDS = envInteger('XDS_REMOVAL_ROUNDS', 40);
const GOAL_P99_MS = 100;
/** After the write, calls go on this long before the round is judged (the slowest removal seen is well under it). */
const OBSERVE_MS = 1_500;
const NAMESPACE = 'bench-xds';
const SERVICE = 'greetserver';
const POD_IPS = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];
/** Set in the child that runs inside the network namespace. */
const IN_NAMESPACE = 'LOOKASIDE_BENCH_NETNS';

/** Runs this script again inside a new network namespace whose loopback device carries POD_IPS. */
function runInNetworkNamespace(): number {
  const setup = ['ip link set lo up', ...POD_IPS.map((ip) => `ip addr add ${ip}/32 dev lo`), `exec "$0" "$1"`].join(' && ');
  const result = spawnSync('unshare', ['-n', 'sh', '-c', setup, process.execPath, process.argv[1] as string], {
    stdio: 'inherit',
    env: { ...process.env, [IN_NAMESPACE]: '1' },
  });
  if (result.error !== undefined) {
    say(`bench-xds, slice write → calls avoid the pod: skipped (cannot run unshare: ${result.error.message})`);
    return 0;
  }
  return result.status ?? 1;
}

interface CallRecord {
  readonly startMs: number;
  readonly endMs: number;
  readonly pod: string;
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Calls Greet back to back until stopped, recording who answered each call. */
class CallLoop {
  readonly calls: CallRecord[] = [];
  private running = true;
  readonly done: Promise<void>;

  constructor(client: Client) {
    this.done = (async () => {
      while (this.running) {
        const startMs = performance.now();
        const result = await callGreet(client, { first_name: 'Ada', last_name: 'Lovelace' }, 2_000);
        this.calls.push({ startMs, endMs: performance.now(), pod: result.ok ? result.response.pod_name : `error ${result.code}` });
        if (this.calls.length > 200_000) this.calls.splice(0, 100_000);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

async function until(condition: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await delay(5);
  }
}

async function main(): Promise<void> {
  const binaries = findBinaries();
  if (typeof binaries === 'string') {
    say(`bench-xds, slice write → calls avoid the pod: skipped (${binaries})`);
    return;
  }
  say(`bench-xds, slice write → calls avoid the pod: a real kube-apiserver, ${ROUNDS} rounds`);
  const processes = new Processes();
  const plane = await ControlPlane.start({ binaries });
  let lookaside: LookasideUnderTest | undefined;
  let loop: CallLoop | undefined;
  let channel: Client | undefined;
  try {
    const cluster = new Cluster(plane.admin);
    await cluster.createNamespace(NAMESPACE);
    await cluster.createService(NAMESPACE, SERVICE);
    const servers: GreetServerHandle[] = await Promise.all(
      POD_IPS.map((ip, index) => startGreetServer(processes, `greet-${index}`, { GRPC_HOST: ip, GRPC_PORT: String(GRPC_PORT), POD_IP: ip })),
    );
    const slice = `${SERVICE}-a`;
    await cluster.createSlice(endpointSlice(NAMESPACE, SERVICE, slice, POD_IPS.map((ip) => ({ ip, ready: true }))));
    // Its debug log times each push, so a round's delay splits into the lookaside's part and the client's.
    lookaside = await LookasideUnderTest.start(plane.adminKubeconfig, { LOG_LEVEL: 'debug' });
    const logs = lookaside.process.logs;

    // This process is the xDS client: grpc-js-xds reads its bootstrap from the environment.
    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = xdsBootstrap(`127.0.0.1:${lookaside.port}`, 'bench-xds-removal');
    const xds = await import('@grpc/grpc-js-xds');
    xds.register();
    channel = openGreetChannel(`xds:///${SERVICE}.${NAMESPACE}.svc.cluster.local:${GRPC_PORT}`, { timeMs: 0, timeoutMs: 1 });
    const calls = new CallLoop(channel);
    loop = calls;
    const answeredSince = (pod: string, sinceIndex: number): boolean => calls.calls.slice(sinceIndex).some((call) => call.pod === pod);
    await until(() => servers.every((server) => answeredSince(server.podName, 0)), 'every pod answering');

    const delaysMs: number[] = [];
    const pushesMs: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const index = round % servers.length;
      const victim = servers[index] as GreetServerHandle;
      const from = calls.calls.length;
      await until(() => answeredSince(victim.podName, from), `round ${round + 1}: ${victim.podName} in the rotation`);
      await delay(50);
      const t0 = performance.now();
      const t0Wall = Date.now();
      await cluster.patchEndpoint(NAMESPACE, slice, index, { ready: false });
      await delay(OBSERVE_MS);
      const reached = calls.calls.filter((call) => call.startMs >= t0 && call.pod === victim.podName);
      const delayMs = Math.round(Math.max(0, ...reached.map((call) => call.endMs - t0)));
      const errors = calls.calls.filter((call) => call.startMs >= t0 && call.pod.startsWith('error')).length;
      delaysMs.push(delayMs);
      const push = logs.find((line) => line.msg === 'pushed' && Date.parse(String(line['time'])) >= t0Wall);
      const pushMs = push === undefined ? Number.NaN : Date.parse(String(push['time'])) - t0Wall;
      pushesMs.push(pushMs);
      say(
        `  round ${round + 1}: ${victim.podName} not ready → pushed ${pushMs} ms, last call to it ended ${delayMs} ms after the write ` +
          `(${reached.length} calls reached it${errors > 0 ? `, ${errors} failed` : ''})`,
      );
      logs.splice(0);
      await cluster.patchEndpoint(NAMESPACE, slice, index, { ready: true });
    }
    const sorted = [...delaysMs].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? Number.NaN;
    say('');
    say(`EndpointSlice write → the lookaside's push sent: ${summarize(pushesMs)}`);
    say(`EndpointSlice write → the first call that avoids the removed pod: ${summarize(delaysMs)}, p99 ${p99} ms (goal ≤ ${GOAL_P99_MS} ms)`);
  } finally {
    await loop?.stop();
    channel?.close();
    await lookaside?.stop();
    await processes.stopAll();
    await plane.stop();
  }
}

if (process.env[IN_NAMESPACE] !== '1') process.exit(runInNetworkNamespace());
main().then(
  // grpc-js-xds's xDS client (one per process) keeps its stream open.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench-xds (removal) failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
