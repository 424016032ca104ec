/**
 * `make bench-gateway`: the gateway's four balancing modes side by side, on
 * the same machine, in the same run, against the same three greet servers,
 * with the same load generator. Rounds alternate the order of the modes so
 * drift (other load on the machine, JIT warm-up) does not favour one mode;
 * the lookaside/round_robin and xds/round_robin ratios are the medians of the
 * per-round ratios.
 *
 * Reports throughput, p50/p99 latency, the gateway's CPU per request, the
 * share of calls each pod took (from the greet servers' own metrics), and the
 * ratios lookaside / round_robin and xds / round_robin.
 */
import autocannon, { type Result } from 'autocannon';

import {
  EndpointsFile,
  lookasideGatewayEnv,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  staticTarget,
  type GreetServerHandle,
  type ListeningProcess,
} from '../test/support/greet-stack.js';
import { metricValue, scrape } from '../test/support/http.js';

const MODES = ['lookaside', 'round_robin', 'xds', 'none'] as const;
type Mode = (typeof MODES)[number];

interface Settings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly connections: number;
}

interface RoundResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failed: number;
  readonly gatewayCpuUsPerRequest: number;
  readonly lookasideCpuUsPerRequest: number;
  /** Calls each pod answered during the round. */
  readonly perPod: ReadonlyMap<string, number>;
}

function readSettings(): Settings {
  const number = (name: string, fallback: number): number => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    return value;
  };
  return {
    durationS: number('BENCH_DURATION_S', 6),
    warmupS: number('BENCH_WARMUP_S', 3),
    rounds: number('BENCH_ROUNDS', 8),
    connections: number('BENCH_CONNECTIONS', 50),
  };
}

const BODY = JSON.stringify({ first_name: 'Ada', last_name: 'Lovelace' });

function load(port: number, connections: number, durationS: number): Promise<Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}/greet`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections,
    duration: durationS,
  });
}

/** Scrapes what the round's deltas are computed from. */
async function snapshot(gateway: ListeningProcess, lookaside: ListeningProcess, servers: readonly GreetServerHandle[]) {
  const [gatewayPage, lookasidePage, ...serverPages] = await Promise.all([
    scrape(gateway.port),
    scrape(lookaside.metricsPort),
    ...servers.map((server) => scrape(server.metricsPort)),
  ]);
  return {
    gatewayCpuS: metricValue(gatewayPage as string, 'process_cpu_seconds_total'),
    lookasideCpuS: metricValue(lookasidePage as string, 'process_cpu_seconds_total'),
    perPod: new Map(
      servers.map((server, index) => [
        server.podName,
        metricValue(serverPages[index] as string, 'grpc_server_handled_total', { grpc_method: 'Greet', grpc_code: 'OK' }),
      ]),
    ),
  };
}

async function runRound(
  gateway: ListeningProcess,
  lookaside: ListeningProcess,
  servers: readonly GreetServerHandle[],
  settings: Settings,
): Promise<RoundResult> {
  const before = await snapshot(gateway, lookaside, servers);
  const result = await load(gateway.port, settings.connections, settings.durationS);
  const after = await snapshot(gateway, lookaside, servers);
  const answered = result['2xx'];
  return {
    rps: answered / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
    gatewayCpuUsPerRequest: ((after.gatewayCpuS - before.gatewayCpuS) * 1e6) / Math.max(1, answered),
    lookasideCpuUsPerRequest: ((after.lookasideCpuS - before.lookasideCpuS) * 1e6) / Math.max(1, answered),
    perPod: new Map([...after.perPod].map(([pod, count]) => [pod, count - (before.perPod.get(pod) ?? 0)])),
  };
}

/**
 * The modes' order in a round. round_robin, the yardstick of both goals, runs
 * between lookaside and xds, so each is measured back to back with it and
 * drift on the machine between them is as small as it can be; which of the
 * two goes first alternates every round, and none runs before them in half of
 * the rounds and after in the other half.
 */
function roundOrder(round: number): Mode[] {
  const trio: Mode[] = round % 2 === 0 ? ['lookaside', 'round_robin', 'xds'] : ['xds', 'round_robin', 'lookaside'];
  return round % 4 < 2 ? [...trio, 'none'] : ['none', ...trio];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function share(perPod: ReadonlyMap<string, number>): string {
  const total = [...perPod.values()].reduce((sum, count) => sum + count, 0);
  return [...perPod]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pod, count]) => `${pod} ${total === 0 ? 0 : Math.round((100 * count) / total)}%`)
    .join(', ');
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(): Promise<void> {
  const settings = readSettings();
  say(`bench-gateway: ${settings.rounds} rounds x ${MODES.length} modes x ${settings.durationS}s, ${settings.connections} connections, autocannon`);
  const processes = new Processes();
  let file: EndpointsFile | undefined;
  try {
    const servers = await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)));
    file = await EndpointsFile.create('greetserver', servers);
    const lookaside = await startLookaside(processes, file);
    const gateways = new Map<Mode, ListeningProcess>([
      ['lookaside', await startGateway(processes, lookasideGatewayEnv(lookaside))],
      ['round_robin', await startGateway(processes, { BALANCING: 'round_robin', GRPC_TARGET: staticTarget(servers) })],
      // The servers share one port in the file, as pods share a target port: that port's Listener.
      ['xds', await startGateway(processes, { ...lookasideGatewayEnv(lookaside), BALANCING: 'xds', GRPC_SERVER_PORT: String(servers[0]?.port), POD_NAME: 'bench-gateway' })],
      ['none', await startGateway(processes, { BALANCING: 'none', GRPC_TARGET: staticTarget(servers) })],
    ]);

    for (const mode of MODES) await load((gateways.get(mode) as ListeningProcess).port, settings.connections, settings.warmupS);

    const results = new Map<Mode, RoundResult[]>(MODES.map((mode) => [mode, []]));
    for (let round = 0; round < settings.rounds; round += 1) {
      for (const mode of roundOrder(round)) {
        const result = await runRound(gateways.get(mode) as ListeningProcess, lookaside, servers, settings);
        results.get(mode)?.push(result);
        say(
          `  round ${round + 1} ${mode.padEnd(11)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  ` +
            `gateway ${result.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/req  failed ${result.failed}  [${share(result.perPod)}]`,
        );
      }
    }
    report(results, settings);
  } finally {
    await processes.stopAll();
    await file?.remove();
  }
}

function report(results: ReadonlyMap<Mode, readonly RoundResult[]>, settings: Settings): void {
  const rows = MODES.map((mode) => {
    const rounds = results.get(mode) ?? [];
    const perPod = new Map<string, number>();
    for (const round of rounds) for (const [pod, count] of round.perPod) perPod.set(pod, (perPod.get(pod) ?? 0) + count);
    return {
      mode,
      rps: median(rounds.map((round) => round.rps)),
      p50: median(rounds.map((round) => round.p50Ms)),
      p99: median(rounds.map((round) => round.p99Ms)),
      cpu: median(rounds.map((round) => round.gatewayCpuUsPerRequest)),
      lookasideCpu: median(rounds.map((round) => round.lookasideCpuUsPerRequest)),
      failed: rounds.reduce((sum, round) => sum + round.failed, 0),
      perPod,
    };
  });
  say('');
  say(`Medians over ${settings.rounds} alternating rounds of ${settings.durationS}s, ${settings.connections} connections:`);
  say('');
  say('| BALANCING | req/s | p50 ms | p99 ms | gateway CPU µs/req | lookaside CPU µs/req | failed | calls per pod |');
  say('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const row of rows) {
    say(
      `| ${row.mode} | ${row.rps.toFixed(0)} | ${row.p50} | ${row.p99} | ${row.cpu.toFixed(0)} | ` +
        `${row.mode === 'lookaside' || row.mode === 'xds' ? row.lookasideCpu.toFixed(0) : '-'} | ${row.failed} | ${share(row.perPod)} |`,
    );
  }
  const roundRobin = results.get('round_robin') ?? [];
  const cpuRoundRobin = median(roundRobin.map((round) => round.gatewayCpuUsPerRequest));
  say('');
  for (const [mode, goal] of [['lookaside', 0.8], ['xds', 0.95]] as const) {
    const rounds = results.get(mode) ?? [];
    const perRound = rounds.map((round, index) => round.rps / (roundRobin[index]?.rps ?? Number.NaN));
    say(
      `${mode} / round_robin throughput: ${median(perRound).toFixed(2)} (per round: ${perRound.map((value) => value.toFixed(2)).join(', ')}; goal >= ${goal.toFixed(2)})`,
    );
    // With every process on one machine, the lookaside's own CPU is taken from the same cores;
    // in a cluster it runs elsewhere, and the gateway's CPU per request sets its capacity.
    const cpu = median(rounds.map((round) => round.gatewayCpuUsPerRequest));
    say(
      `  gateway CPU per request, round_robin / ${mode}: ${(cpuRoundRobin / cpu).toFixed(2)} ` +
        `(${cpuRoundRobin.toFixed(0)} / ${cpu.toFixed(0)} µs): the capacity ratio when the gateway's own core is the limit`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench-gateway failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
