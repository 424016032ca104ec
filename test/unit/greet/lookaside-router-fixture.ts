/** A LookasideRouter over a scripted lookaside and fake greet servers, shared by the router's tests. */
import { status as Status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { silentLogger } from '../../../src/common/logging.js';
import { ChannelPool } from '../../../src/greet/gateway/channel-pool.js';
import { RecentAddresses } from '../../../src/greet/gateway/fallback.js';
import type { GreetCallResult } from '../../../src/greet/gateway/greet-client.js';
import type { ResolveResult } from '../../../src/greet/gateway/lookaside-client.js';
import { LookasideRouter } from '../../../src/greet/gateway/lookaside-router.js';
import { GatewayMetrics } from '../../../src/greet/gateway/metrics.js';

export const REQUEST = { first_name: 'Ada', last_name: 'Lovelace' };
export const UNREACHABLE: ResolveResult = { ok: false, failure: 'unreachable', code: Status.UNAVAILABLE, message: 'connect ECONNREFUSED 10.0.0.5:50055' };

/**
 * A router over a scripted lookaside (answers in order, then repeats the last)
 * and fake greet servers: `down` addresses answer UNAVAILABLE.
 */
export function makeRouter(answers: ResolveResult[]) {
  const script = [...answers];
  const resolves: ResolveResult[] = [];
  const greeted: string[] = [];
  /** Every call the router reported to the lookaside: `address code`. */
  const reported: string[] = [];
  const down = new Set<string>();
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
    callGreet: (address): Promise<GreetCallResult> => {
      greeted.push(address);
      return Promise.resolve(
        down.has(address)
          ? { ok: false, code: Status.UNAVAILABLE, message: 'connection refused' }
          : { ok: true, response: { result: `hi from ${address}`, pod_name: address, pod_ip: '' }, peer: address },
      );
    },
    greetTimeoutMs: 1_000,
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
