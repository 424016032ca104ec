/**
 * `make bench-xds`: one built lookaside (DISCOVERY=file) as the xDS control
 * plane of many simulated clients: raw ADS streams (test/support/ads-client.ts)
 * spread over a few hundred connections, each subscribed, as a gRPC process
 * with one channel per Service would be, to the Listener, RouteConfiguration,
 * Cluster and ClusterLoadAssignment of every one of the Services. Then the
 * endpoints file is rewritten, each round taking one endpoint out of every
 * Service or putting it back, and the time from the write to each client
 * holding the new assignment is measured (the file is noticed within about
 * 50 ms; the push window adds 20 ms). Prints the spread of those delays, the
 * slowest client per round, and the lookaside's RSS (VmRSS, and VmHWM: the
 * peak) under the pod's heap size. Not a test: it asserts only that every
 * client got every push, and its figures depend on the machine.
 *
 * Env (all optional): XDS_CLIENTS (1000), XDS_CONNECTIONS (200), XDS_SERVICES
 * (10), XDS_ENDPOINTS (endpoints per Service, 10), XDS_ROUNDS (5),
 * XDS_NODE_ARGS (more node flags for the lookaside, e.g. --cpu-prof). The
 * lookaside's limits stay at their defaults (MAX_CONNECTIONS 1000,
 * MAX_STREAMS_PER_CONNECTION 100, MAX_OPEN_CALLS 2000), which 1,000 streams
 * over 200 connections fit.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, credentials } from '@grpc/grpc-js';

import { AdsClient } from '../test/support/ads-client.js';
import { delay, ServiceProcess } from '../test/support/process.js';
import { envInteger, memoryOf } from './bench-process.js';

const GOAL_PUSH_MS = 1_000;
const GOAL_RSS_BYTES = 200 * 1024 * 1024;
const MIB = 1024 * 1024;
const WAIT_LIMIT_MS = 60_000;
/** The lookaside's heap as in its pod (deploy/base: 256 MiB memory limit); its debug log has each push's duration. */
const NODE_ARGS = ['--max-old-space-size=256', ...(process.env['XDS_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '')];
const TYPES = ['listener', 'route', 'cluster', 'endpoint'] as const;

const CLIENTS = envInteger('XDS_CLIENTS', 1_000);
const CONNECTIONS = envInteger('XDS_CONNECTIONS', 200);
const SERVICES = envInteger('XDS_SERVICES', 10);
const ENDPOINTS = envInteger('XDS_ENDPOINTS', 10);
const ROUNDS = envInteger('XDS_ROUNDS', 5);
const PORT = 50051;

function endpointsFile(endpointsPerService: number): string {
  const lines = ['services:'];
  for (let s = 0; s < SERVICES; s++) {
    lines.push(`  - { namespace: default, name: svc-${s}, endpoints: [`);
    for (let e = 0; e < endpointsPerService; e++) lines.push(`      { address: "10.${s}.${Math.floor(e / 250)}.${(e % 250) + 1}:${PORT}", pod: svc-${s}-${e}, zone: zone-${e % 3} },`);
    lines.push('    ] }');
  }
  return `${lines.join('\n')}\n`;
}

function namesOf(type: (typeof TYPES)[number]): string[] {
  return Array.from({ length: SERVICES }, (_, s) => (type === 'listener' ? `svc-${s}.default:${PORT}` : `svc-${s}.default.svc.cluster.local:${PORT}`));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_LIMIT_MS} ms`);
    await delay(2);
  }
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function ackLatest(client: AdsClient): void {
  for (const type of TYPES) {
    const latest = client.received(type).at(-1);
    if (latest !== undefined) client.request(type, namesOf(type), { nonce: latest.nonce, version: latest.version });
  }
}

async function main(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'bench-xds-'));
  const file = join(directory, 'endpoints.yaml');
  await writeFile(file, endpointsFile(ENDPOINTS));
  const lookaside = ServiceProcess.start('src/lookaside/main.js', {
    LB_HOST: '127.0.0.1',
    LB_PORT: '0',
    METRICS_PORT: '0',
    ENDPOINTS_FILE: file,
    LOG_LEVEL: 'debug',
    // Every simulated client connects from 127.0.0.1: the per-client bound (100 by default) would refuse past it.
    MAX_CONNECTIONS_PER_CLIENT: String(CONNECTIONS),
  }, NODE_ARGS);
  const channels: Client[] = [];
  const clients: AdsClient[] = [];
  try {
    const listening = await lookaside.waitUntilListening(30_000);
    const port = Number(listening['port']);
    const pid = lookaside.child.pid as number;
    await delay(1_000);
    const idle = memoryOf(pid);

    const connectStartMs = Date.now();
    for (let c = 0; c < CONNECTIONS; c++) channels.push(new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    for (let i = 0; i < CLIENTS; i++) {
      const client = new AdsClient(channels[i % CONNECTIONS] as Client, { id: `bench-${i}`, locality: { zone: 'bench' } }, false, false);
      clients.push(client);
      for (const type of TYPES) client.request(type, namesOf(type));
    }
    await until(() => clients.every((client) => TYPES.every((type) => client.received(type).length > 0)), 'every client subscribed');
    const connectMs = Date.now() - connectStartMs;
    for (const client of clients) ackLatest(client);
    await delay(1_000);
    const connected = memoryOf(pid);

    const rounds: Array<{ p50: number; p99: number; max: number; first: number; reloadMs: number; loopMs: number }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const before = clients.map((client) => client.received('endpoint').length);
      const next = join(directory, 'next.yaml');
      await writeFile(next, endpointsFile(round % 2 === 1 ? ENDPOINTS - 1 : ENDPOINTS));
      const writtenAtMs = Date.now();
      await rename(next, file);
      await until(() => clients.every((client, i) => client.received('endpoint').length > (before[i] as number)), `round ${round}: every client pushed`);
      const delays = clients.map((client, i) => (client.received('endpoint')[before[i] as number]?.atMs ?? Number.NaN) - writtenAtMs).sort((a, b) => a - b);
      const versions = new Set(clients.map((client) => client.received('endpoint').at(-1)?.version));
      if (versions.size !== 1) throw new Error(`round ${round}: clients hold ${versions.size} different assignments`);
      const reloaded = lookaside.logs.filter((line) => line.msg === 'endpoints file reloaded').at(-1);
      const reloadMs = reloaded === undefined ? Number.NaN : Date.parse(String(reloaded['time'])) - writtenAtMs;
      const pushed = lookaside.logs.filter((line) => line.msg === 'pushed').at(-1);
      const loopMs = Number(pushed?.['ms'] ?? Number.NaN);
      rounds.push({ p50: percentile(delays, 0.5), p99: percentile(delays, 0.99), max: delays.at(-1) ?? Number.NaN, first: delays[0] ?? Number.NaN, reloadMs, loopMs });
      for (const client of clients) ackLatest(client);
      await delay(500);
    }
    const end = memoryOf(pid);

    const slowest = Math.max(...rounds.map((round) => round.max));
    console.log(`bench-xds: ${CLIENTS} ADS clients over ${CONNECTIONS} connections, each subscribed to ${SERVICES} Services × 4 resource types, ${ENDPOINTS} endpoints per Service`);
    console.log(`  all subscribed and answered in ${connectMs} ms`);
    console.log('  endpoints file rewritten → every client has the new assignment:');
    for (const [i, round] of rounds.entries()) {
      console.log(
        `    round ${i + 1}: file reloaded after ${round.reloadMs} ms; first client ${round.first} ms, p50 ${round.p50} ms, p99 ${round.p99} ms, ` +
          `last client ${round.max} ms (reload → last client ${round.max - round.reloadMs} ms; the push loop over every stream ${round.loopMs} ms)`,
      );
    }
    console.log(`  slowest push to the last client: ${slowest} ms (goal ≤ ${GOAL_PUSH_MS} ms: ${slowest <= GOAL_PUSH_MS ? 'met' : 'MISSED'})`);
    console.log(`  lookaside RSS: idle ${(idle.rss / MIB).toFixed(0)} MiB, with the clients ${(connected.rss / MIB).toFixed(0)} MiB, after the pushes ${(end.rss / MIB).toFixed(0)} MiB, peak ${(end.peak / MIB).toFixed(0)} MiB (goal ≤ ${GOAL_RSS_BYTES / MIB} MB: ${end.peak <= GOAL_RSS_BYTES ? 'met' : 'MISSED'})`);
  } finally {
    for (const client of clients) client.close();
    for (const channel of channels) channel.close();
    await lookaside.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
