/**
 * The processes and measurements of `make bench-policies`: three greet servers
 * shared by every arm, and per arm (a policy with its settings) a lookaside
 * of its own (so one arm's ejections and counts never leak into another's)
 * and a gateway, all on loopback.
 */
import autocannon from 'autocannon';

import {
  EndpointsFile,
  lookasideGatewayEnv,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
  type ListeningProcess,
} from '../test/support/greet-stack.js';
import { httpCall, metricValue, scrape } from '../test/support/http.js';

/** A policy as the bench runs it: the gateway's and the lookaside's settings. */
export interface Arm {
  readonly name: string;
  readonly gatewayEnv: Readonly<Record<string, string>>;
  readonly lookasideEnv?: Readonly<Record<string, string>>;
}

/** Today's anchor: round robin with a gateway that reports nothing and never hedges, so nothing is counted, ejected or sent twice (as before #12). */
export const BEFORE: Arm = {
  name: 'round_robin, no reports (before)',
  gatewayEnv: { LB_POLICY: 'round_robin', LB_REPORT_CALLS: 'false', GREET_HEDGE_DELAY_MS: '0' },
};
export const ROUND_ROBIN: Arm = { name: 'round_robin + ejection', gatewayEnv: { LB_POLICY: 'round_robin' } };
export const LEAST_REQUEST: Arm = { name: 'least_request', gatewayEnv: { LB_POLICY: 'least_request' } };
export const WEIGHTED: Arm = { name: 'weighted_round_robin', gatewayEnv: { LB_POLICY: 'weighted_round_robin' } };

interface RunningArm {
  readonly arm: Arm;
  readonly lookaside: ListeningProcess;
  readonly gateway: ListeningProcess;
  readonly file: EndpointsFile;
}

export class Stack {
  private constructor(
    readonly processes: Processes,
    readonly servers: readonly GreetServerHandle[],
    private readonly running: ReadonlyMap<Arm, RunningArm>,
  ) {}

  /** Three greet servers with `serverEnvs`, and a lookaside and a gateway per arm. */
  static async start(serverEnvs: readonly Record<string, string>[], arms: readonly Arm[]): Promise<Stack> {
    const processes = new Processes();
    try {
      const servers = await Promise.all(serverEnvs.map((env, index) => startGreetServer(processes, `greet-${index}`, env)));
      const running = new Map<Arm, RunningArm>();
      for (const arm of arms) {
        const file = await EndpointsFile.create('greetserver', servers);
        const lookaside = await startLookaside(processes, file, 0, { ...arm.lookasideEnv });
        const gateway = await startGateway(processes, lookasideGatewayEnv(lookaside, { ...arm.gatewayEnv }));
        running.set(arm, { arm, lookaside, gateway, file });
      }
      return new Stack(processes, servers, running);
    } catch (error) {
      await processes.stopAll();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.processes.stopAll();
    await Promise.all([...this.running.values()].map((running) => running.file.remove()));
  }

  private of(arm: Arm): RunningArm {
    const running = this.running.get(arm);
    if (running === undefined) throw new Error(`${arm.name} is not running`);
    return running;
  }

  /** Whether the arm's lookaside has `server` ejected now (GET /debug/endpoints). */
  async ejected(arm: Arm, server: GreetServerHandle): Promise<boolean> {
    const answer = await httpCall(this.of(arm).lookaside.metricsPort, 'GET', '/debug/endpoints?service=greetserver');
    const endpoints = (answer.json?.['endpoints'] ?? []) as { address: string; ejected: boolean }[];
    return endpoints.find((endpoint) => endpoint.address === server.address)?.ejected === true;
  }

  /** Greets each server answered OK so far, by pod name (0 for a server that is gone). */
  async answeredPerPod(): Promise<Map<string, number>> {
    const pages = await Promise.allSettled(this.servers.map((server) => scrape(server.metricsPort)));
    return new Map(
      this.servers.map((server, index) => {
        const page = pages[index];
        const answered = page?.status === 'fulfilled' ? metricValue(page.value, 'grpc_server_handled_total', { grpc_method: 'Greet', grpc_code: 'OK' }) : 0;
        return [server.podName, answered];
      }),
    );
  }

  /** Greets the arm's gateway has hedged so far. */
  private async hedges(arm: Arm): Promise<number> {
    return metricValue(await scrape(this.of(arm).gateway.port), 'greet_gateway_hedges_total');
  }

  /** Closed-loop load on the arm's gateway for `durationS`; `during` runs alongside, given the start time. */
  async measure(arm: Arm, connections: number, durationS: number, during?: (startedMs: number) => Promise<void>): Promise<Round> {
    const before = await this.answeredPerPod();
    const hedgesBefore = await this.hedges(arm);
    const startedMs = performance.now();
    const failureTimesMs: number[] = [];
    const run = autocannon({
      url: `http://127.0.0.1:${this.of(arm).gateway.port}/greet`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Ada', last_name: 'Lovelace' }),
      connections,
      duration: durationS,
    });
    run.on('response', (_client, statusCode) => {
      if (statusCode !== 200) failureTimesMs.push(performance.now() - startedMs);
    });
    const [result] = await Promise.all([run, during?.(startedMs)]);
    const after = await this.answeredPerPod();
    const hedges = (await this.hedges(arm)) - hedgesBefore;
    const failed = result.non2xx + result.errors + result.timeouts;
    return {
      rps: result['2xx'] / result.duration,
      meanMs: result.latency.mean,
      p99Ms: result.latency.p99,
      answered: result['2xx'],
      failed,
      failedAfterFirstSecond: failureTimesMs.filter((atMs) => atMs >= 1_000).length + result.errors + result.timeouts,
      requestsAfterFirstSecond: result['2xx'] + failed - failureTimesMs.filter((atMs) => atMs < 1_000).length,
      perPod: new Map([...after].map(([pod, count]) => [pod, count - (before.get(pod) ?? 0)])),
      hedges,
    };
  }

  /** A short run per arm so channels are open and the code is warm. */
  async warmUp(arms: readonly Arm[], connections: number, durationS: number): Promise<void> {
    for (const arm of arms) await this.measure(arm, connections, durationS);
  }
}

export interface Round {
  readonly rps: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly answered: number;
  readonly failed: number;
  /** Failures from the second second on (connection errors and timeouts counted there too). */
  readonly failedAfterFirstSecond: number;
  readonly requestsAfterFirstSecond: number;
  /** Calls each pod answered OK during the round. */
  readonly perPod: ReadonlyMap<string, number>;
  /** Greets the gateway hedged on another pod during the round. */
  readonly hedges: number;
}

/** The arms in the order of one round, alternating so that drift on the machine favours none. */
export function roundOrder<T>(arms: readonly T[], round: number): T[] {
  const rotated = [...arms.slice(round % arms.length), ...arms.slice(0, round % arms.length)];
  return round % 2 === 0 ? rotated : rotated.reverse();
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The share of the calls one pod answered. */
export function shareOf(perPod: ReadonlyMap<string, number>, pod: string): number {
  const total = [...perPod.values()].reduce((sum, count) => sum + count, 0);
  return total === 0 ? 0 : (perPod.get(pod) ?? 0) / total;
}

export function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}
