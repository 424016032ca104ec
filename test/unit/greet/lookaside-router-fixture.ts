/** A LookasideRouter over a scripted lookaside and fake greet servers, shared by the router's tests. */
import { status as Status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { silentLogger } from '../../../src/common/logging.js';
import { ChannelPool } from '../../../src/greet/gateway/channel-pool.js';
import { RecentAddresses } from '../../../src/greet/gateway/fallback.js';
import type { GreetCallResult, StartedGreet } from '../../../src/greet/gateway/greet-client.js';
import type { ResolveResult } from '../../../src/greet/gateway/lookaside-client.js';
import { LookasideRouter } from '../../../src/greet/gateway/lookaside-router.js';
import { GatewayMetrics } from '../../../src/greet/gateway/metrics.js';
import { ManualTimers } from '../../support/manual-timers.js';

export const REQUEST = { first_name: 'Ada', last_name: 'Lovelace' };
export const UNREACHABLE: ResolveResult = { ok: false, failure: 'unreachable', code: Status.UNAVAILABLE, message: 'connect ECONNREFUSED 10.0.0.5:50055' };

export interface RouterTiming {
  /** GREET_HEDGE_DELAY_MS; 0 (never hedge) unless given. */
  readonly hedgeDelayMs?: number;
  /** Moves the fake greet servers' answers, their deadlines and the hedge timer. */
  readonly timers?: ManualTimers;
}

/**
 * A router over a scripted lookaside (answers in order, then repeats the last)
 * and fake greet servers: `down` addresses answer UNAVAILABLE, `slow` ones
 * answer OK after their delay on `timing.timers`, `hung` ones never answer
 * (DEADLINE_EXCEEDED once the call's deadline passes on those timers).
 */
export function makeRouter(answers: ResolveResult[], timing: RouterTiming = {}) {
  const script = [...answers];
  const resolves: ResolveResult[] = [];
  const greeted: string[] = [];
  /** Every call the router reported to the lookaside: `address code`. */
  const reported: string[] = [];
  const down = new Set<string>();
  const hung = new Set<string>();
  const slow = new Map<string, number>();
  const timers = timing.timers ?? new ManualTimers();
  const registry = new Registry();
  const router = new LookasideRouter<string>({
    lookaside: {
      resolve: () => {
        const answer = (script.length > 1 ? script.shift() : script[0]) as ResolveResult;
        resolves.push(answer);
        return Promise.resolve(answer);
      },
      report: (address, code) => {
        reported.push(`${address} ${code}`);
      },
      notCalled: (address) => {
        reported.push(`${address} not called`);
      },
      close: () => undefined,
    },
    service: 'default/greetserver',
    pool: new ChannelPool<string>({
      factory: { open: (address) => address, close: () => undefined },
      maxChannels: 10,
      idleMs: 60_000,
      sweepAutomatically: false,
    }),
    fallback: new RecentAddresses({ maxAgeMs: 60_000, maxAddresses: 10 }),
    startGreet: (address, _request, timeoutMs): StartedGreet => {
      greeted.push(address);
      const ok: GreetCallResult = { ok: true, response: { result: `hi from ${address}`, pod_name: address, pod_ip: '' }, peer: address };
      if (down.has(address)) return { result: Promise.resolve({ ok: false, code: Status.UNAVAILABLE, message: 'connection refused' }), cancel: () => undefined };
      const delayMs = slow.get(address);
      if (!hung.has(address) && delayMs === undefined) return { result: Promise.resolve(ok), cancel: () => undefined };
      let settle: (result: GreetCallResult) => void = () => undefined;
      const result = new Promise<GreetCallResult>((resolve) => {
        settle = resolve;
      });
      const answer = delayMs === undefined ? undefined : timers.setTimeout(() => settle(ok), delayMs);
      const deadline = timers.setTimeout(() => settle({ ok: false, code: Status.DEADLINE_EXCEEDED, message: 'Deadline exceeded' }), timeoutMs);
      return {
        result,
        cancel: () => {
          timers.clearTimeout(answer);
          timers.clearTimeout(deadline);
          settle({ ok: false, code: Status.CANCELLED, message: 'Cancelled on client' });
        },
      };
    },
    greetTimeoutMs: 1_000,
    hedgeDelayMs: timing.hedgeDelayMs ?? 0,
    now: () => timers.now(),
    timers,
    fallbackMaxAgeMs: 60_000,
    metrics: new GatewayMetrics(registry),
    logger: silentLogger(),
    probeIntervalMs: 5,
  });
  return {
    router,
    resolves,
    greeted,
    reported,
    down,
    hung,
    slow,
    timers,
    script: (next: ResolveResult[]) => script.splice(0, script.length, ...next),
    degradedGauge: async () => (await registry.getSingleMetric('greet_gateway_degraded')?.get())?.values[0]?.value,
  };
}

export const NOT_FOUND: ResolveResult = {
  ok: false,
  failure: 'no-endpoints',
  code: Status.NOT_FOUND,
  message: 'no endpoints known for Service default/greetserver: not in /etc/lookaside/endpoints.yaml',
};
export const NONE_READY: ResolveResult = {
  ok: false,
  failure: 'no-endpoints',
  code: Status.UNAVAILABLE,
  message: 'Service default/greetserver has no ready endpoint (1 EndpointSlice(s), 3 endpoint(s) not ready or terminating)',
};

export function fault(code: Status): ResolveResult {
  return { ok: false, failure: 'lookaside-fault', code, message: 'already watching the maximum of 1000 services (MAX_SERVICES)' };
}

export function at(address: string): ResolveResult {
  return { ok: true, address, podName: address };
}
