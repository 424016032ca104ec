/**
 * `make bench-stream-flood`: what one hostile client can make the built
 * lookaside hold in memory. Each scenario starts a fresh lookaside, opens as
 * many connections and streams as it asks for with a raw HTTP/2 client that
 * ignores SETTINGS_MAX_CONCURRENT_STREAMS (test/support/raw-h2-connection.ts), waits
 * until the server's memory stops moving, and prints the lookaside's peak RSS
 * (VmHWM), its live heap at the plateau, and what the client saw: streams the
 * server ended with a gRPC status, refused, or reset, and connections closed.
 * Not a test: it asserts nothing and its figures depend on the machine.
 *
 * Env (all optional): FLOOD_SCENARIOS (comma list of scenario names; all by
 * default), FLOOD_STREAMS (streams per flood, 30000), FLOOD_CONNECTIONS
 * (connections of the many-connection scenarios, 300), FLOOD_IDLE_CONNECTIONS
 * (connections of the connections-only scenario, 10000; stay under `ulimit -n`),
 * FLOOD_FULL_CONNECTIONS (connections of full-connections, 100 streams each, 1000),
 * FLOOD_ENV (extra lookaside env as NAME=value,NAME=value), FLOOD_NODE_ARGS
 * (node flags of the lookaside, DEFAULT_NODE_ARGS; "" for none).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';
import { delay, ServiceProcess } from '../test/support/process.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../test/support/raw-h2-connection.js';

/** The memory limit of the lookaside container in deploy/base/lookaside.yaml. */
const DEPLOY_LIMIT_BYTES = 256 * 1024 * 1024;
const MIB = 1024 * 1024;
/** The plateau: RSS moved less than this over STABLE_FOR_MS. */
const STABLE_WITHIN_BYTES = 2 * MIB;
const STABLE_FOR_MS = 3_000;
const SETTLE_LIMIT_MS = 60_000;
/**
 * In the pod, Node sizes its heap from the container's memory limit (about
 * 256 MiB); on a large machine it would allow gigabytes and collect garbage
 * lazily. This flag gives the lookaside the pod's heap size.
 */
const DEFAULT_NODE_ARGS = '--max-old-space-size=256';

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly path: string;
  /** A DATA frame sent on each stream after its HEADERS (no END_STREAM). */
  readonly body?: Buffer;
}

interface Measurement {
  readonly startRssBytes: number;
  readonly peakRssBytes: number;
  readonly heapUsedBytes: number;
  readonly opened: number;
  readonly endedByServer: number;
  readonly refused: number;
  readonly reset: number;
  readonly connectionsClosed: number;
  readonly goaways: ReadonlyMap<string, number>;
  readonly seconds: number;
}

function envInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw}: expected a whole number ≥ 1`);
  return value;
}

function scenarios(): Scenario[] {
  const streams = envInteger('FLOOD_STREAMS', 30_000);
  const connections = envInteger('FLOOD_CONNECTIONS', 300);
  const idleConnections = envInteger('FLOOD_IDLE_CONNECTIONS', 10_000);
  const fullConnections = envInteger('FLOOD_FULL_CONNECTIONS', 1_000);
  const resolveStream = '/lookaside.v1.Lookaside/ResolveStream';
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const request = serviceConstructor(grpcObject, 'lookaside.v1.Lookaside').service['Resolve']?.requestSerialize({ service: 'greet' });
  if (request === undefined) throw new Error('no Resolve method');
  const truncated = Buffer.alloc(5 + 2);
  truncated.writeUInt32BE(request.length + 100, 1); // announces more bytes than ever come
  return [
    { name: 'one-connection', what: `ResolveStreams on 1 connection`, connections: 1, streamsPerConnection: streams, path: resolveStream },
    {
      name: 'many-connections',
      what: `ResolveStreams over ${connections} connections`,
      connections,
      streamsPerConnection: Math.ceil(streams / connections),
      path: resolveStream,
    },
    {
      name: 'unary-no-body',
      what: `unary Resolve calls whose request never ends, over ${connections} connections`,
      connections,
      streamsPerConnection: Math.ceil(streams / connections),
      path: '/lookaside.v1.Lookaside/Resolve',
      body: truncated,
    },
    {
      name: 'health-watch',
      what: `Health/Watch streams over ${connections} connections`,
      connections,
      streamsPerConnection: Math.ceil(streams / connections),
      path: '/grpc.health.v1.Health/Watch',
      body: Buffer.from([0, 0, 0, 0, 0]),
    },
    { name: 'connections-only', what: `idle connections, no streams`, connections: idleConnections, streamsPerConnection: 0, path: resolveStream },
    {
      name: 'full-connections',
      what: `ResolveStreams, 100 on each of ${fullConnections} connections`,
      connections: fullConnections,
      streamsPerConnection: 100,
      path: resolveStream,
    },
  ];
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

async function heapUsed(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function runScenario(scenario: Scenario, endpointsFile: string, extraEnv: Record<string, string>): Promise<Measurement> {
  const nodeArgs = (process.env['FLOOD_NODE_ARGS'] ?? DEFAULT_NODE_ARGS).split(' ').filter((arg) => arg !== '');
  const lookaside = ServiceProcess.start(
    'src/lookaside/main.js',
    { LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', ENDPOINTS_FILE: endpointsFile, ...extraEnv },
    nodeArgs,
  );
  const connections: RawH2Connection[] = [];
  try {
    const listening = await lookaside.waitUntilListening();
    const [port, metricsPort] = [Number(listening['port']), Number(listening['metricsPort'])];
    const pid = lookaside.child.pid;
    if (pid === undefined) throw new Error('the lookaside has no pid');
    await delay(1_000);
    const startRssBytes = memoryOf(pid).rss;
    const headerBlock = grpcRequestHeaderBlock(scenario.path);
    const startedMs = Date.now();
    for (let i = 0; i < scenario.connections; i += 1) {
      const connection = await RawH2Connection.open(port);
      connections.push(connection);
      if (scenario.streamsPerConnection > 0) await connection.openStreams(headerBlock, scenario.streamsPerConnection, scenario.body);
    }
    const progress = (): number => connections.reduce((sum, { counts }) => sum + counts.endedByServer + counts.refused + counts.reset + (counts.closed ? 1 : 0), 0);
    await settle(pid, progress);
    const seconds = (Date.now() - startedMs) / 1000;
    const heapUsedBytes = await heapUsed(metricsPort);
    const goaways = new Map<string, number>();
    for (const { counts } of connections) {
      if (counts.goaway === undefined) continue;
      const key = `code ${counts.goaway.code}${counts.goaway.debug === '' ? '' : ` "${counts.goaway.debug}"`}`;
      goaways.set(key, (goaways.get(key) ?? 0) + 1);
    }
    const total = (key: 'opened' | 'endedByServer' | 'refused' | 'reset'): number =>
      connections.reduce((sum, { counts }) => sum + counts[key], 0);
    return {
      startRssBytes,
      peakRssBytes: memoryOf(pid).peak,
      heapUsedBytes,
      opened: total('opened'),
      endedByServer: total('endedByServer'),
      refused: total('refused'),
      reset: total('reset'),
      connectionsClosed: connections.filter(({ counts }) => counts.closed).length,
      goaways,
      seconds,
    };
  } catch (error) {
    const fatal = /FATAL ERROR: [^\n]*/.exec(lookaside.stderr)?.[0];
    throw new Error(fatal === undefined ? `${error instanceof Error ? error.message : String(error)}; stderr: ${lookaside.stderr.slice(-500)}` : `the lookaside died: ${fatal}`, {
      cause: error,
    });
  } finally {
    for (const connection of connections) connection.close();
    await lookaside.stop(30_000);
  }
}

/**
 * Waits until the lookaside's RSS stays within STABLE_WITHIN_BYTES, and what
 * the client sees (`progress`) stays put, for STABLE_FOR_MS: the server has
 * worked through the flood.
 */
async function settle(pid: number, progress: () => number): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let reference = { rss: memoryOf(pid).rss, progress: progress() };
  let stableSinceMs = Date.now();
  while (Date.now() < deadline) {
    await delay(250);
    const now = { rss: memoryOf(pid).rss, progress: progress() };
    if (Math.abs(now.rss - reference.rss) > STABLE_WITHIN_BYTES || now.progress !== reference.progress) {
      reference = now;
      stableSinceMs = Date.now();
    } else if (Date.now() - stableSinceMs >= STABLE_FOR_MS) return;
  }
}

const mib = (bytes: number): string => (bytes / MIB).toFixed(0);

function report(scenario: Scenario, result: Measurement): void {
  const peak = `${mib(result.peakRssBytes)} MiB${result.peakRssBytes > DEPLOY_LIMIT_BYTES ? ' (OVER the 256 MiB limit)' : ''}`;
  const streams = scenario.streamsPerConnection === 0 ? '' : `${result.opened} streams attempted, `;
  console.log(
    `${scenario.name.padEnd(17)} ${scenario.connections * Math.max(1, scenario.streamsPerConnection)} ${scenario.what}: ` +
      `RSS ${mib(result.startRssBytes)} -> peak ${peak}, heap used ${mib(result.heapUsedBytes)} MiB; ` +
      `${streams}${result.endedByServer} ended with a status, ${result.refused} refused, ${result.reset} reset; ` +
      `${result.connectionsClosed} of ${scenario.connections} connections closed` +
      `${result.goaways.size === 0 ? '' : ` (GOAWAY ${[...result.goaways].map(([key, count]) => `${count}x ${key}`).join(', ')})`}; ` +
      `${result.seconds.toFixed(1)} s`,
  );
}

function extraEnv(): Record<string, string> {
  const raw = process.env['FLOOD_ENV'] ?? '';
  return {
    // Every flood connection comes from 127.0.0.1, standing in for many hostile
    // clients: the per-client bound would stop it long before the totals are tested.
    MAX_CONNECTIONS_PER_CLIENT: '100000',
    ...Object.fromEntries(
      raw
        .split(',')
        .filter((pair) => pair.includes('='))
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    ),
  };
}

async function main(): Promise<void> {
  const wanted = (process.env['FLOOD_SCENARIOS'] ?? '').split(',').filter((name) => name !== '');
  const chosen = scenarios().filter((scenario) => wanted.length === 0 || wanted.includes(scenario.name));
  if (chosen.length === 0) throw new Error(`FLOOD_SCENARIOS=${wanted.join(',')}: no such scenario`);
  const dir = await mkdtemp(join(tmpdir(), 'bench-stream-flood-'));
  try {
    const endpointsFile = join(dir, 'endpoints.yaml');
    await writeFile(endpointsFile, 'services:\n  - name: greet\n    endpoints:\n      - { address: "10.0.0.1:50051" }\n');
    console.log(`lookaside under a stream flood (deploy/ memory limit: 256 MiB); peak RSS is VmHWM, heap at the plateau`);
    for (const scenario of chosen) {
      try {
        report(scenario, await runScenario(scenario, endpointsFile, extraEnv()));
      } catch (error) {
        // A lookaside that dies of the flood is a result, not the end of the bench.
        console.log(`${scenario.name.padEnd(17)} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
