import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { silentLogger } from '../../../src/common/logging.js';
import { ChannelPool } from '../../../src/greet/gateway/channel-pool.js';
import { RecentAddresses } from '../../../src/greet/gateway/fallback.js';
import type { GreetCallResult } from '../../../src/greet/gateway/greet-client.js';
import type { ResolveResult } from '../../../src/greet/gateway/lookaside-client.js';
import { LookasideRouter } from '../../../src/greet/gateway/lookaside-router.js';
import { GatewayMetrics } from '../../../src/greet/gateway/metrics.js';

const REQUEST = { first_name: 'Ada', last_name: 'Lovelace' };
const UNREACHABLE: ResolveResult = { ok: false, failure: 'unreachable', code: Status.UNAVAILABLE, message: 'connect ECONNREFUSED 10.0.0.5:50055' };

/**
 * A router over a scripted lookaside (answers in order, then repeats the last)
 * and fake greet servers: `down` addresses answer UNAVAILABLE.
 */
function makeRouter(answers: ResolveResult[]) {
  const script = [...answers];
  const resolves: ResolveResult[] = [];
  const greeted: string[] = [];
  const down = new Set<string>();
  const registry = new Registry();
  const router = new LookasideRouter<string>({
    lookaside: {
      resolve: () => {
        const answer = (script.length > 1 ? script.shift() : script[0]) as ResolveResult;
        resolves.push(answer);
        return Promise.resolve(answer);
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
    down,
    script: (next: ResolveResult[]) => script.splice(0, script.length, ...next),
    degradedGauge: async () => (await registry.getSingleMetric('greet_gateway_degraded')?.get())?.values[0]?.value,
  };
}

const NOT_FOUND: ResolveResult = {
  ok: false,
  failure: 'no-endpoints',
  code: Status.NOT_FOUND,
  message: 'no endpoints known for Service default/greetserver: not in /etc/lookaside/endpoints.yaml',
};
const NONE_READY: ResolveResult = {
  ok: false,
  failure: 'no-endpoints',
  code: Status.UNAVAILABLE,
  message: 'Service default/greetserver has no ready endpoint (1 EndpointSlice(s), 3 endpoint(s) not ready or terminating)',
};

function fault(code: Status): ResolveResult {
  return { ok: false, failure: 'lookaside-fault', code, message: 'already watching the maximum of 1000 services (MAX_SERVICES)' };
}

function at(address: string): ResolveResult {
  return { ok: true, address, podName: address };
}

describe('LookasideRouter', () => {
  it('sends each call to the pod the lookaside returned', async () => {
    const { router, greeted } = makeRouter([at('a:1'), at('b:1'), at('c:1')]);
    for (let i = 0; i < 3; i += 1) {
      const outcome = await router.greet(REQUEST);
      assert.equal(outcome.ok, true);
    }
    assert.deepEqual(greeted, ['a:1', 'b:1', 'c:1']);
    router.close();
  });

  it('retries once on another pod when the first answers UNAVAILABLE', async () => {
    const { router, greeted, down } = makeRouter([at('a:1'), at('b:1')]);
    down.add('a:1');
    const outcome = await router.greet(REQUEST);
    assert.ok(outcome.ok);
    assert.equal(outcome.address, 'b:1');
    assert.deepEqual(greeted, ['a:1', 'b:1']);
    router.close();
  });

  it('asks again when the lookaside hands back the pod that just failed', async () => {
    const { router, greeted, down } = makeRouter([at('a:1'), at('a:1'), at('b:1')]);
    down.add('a:1');
    const outcome = await router.greet(REQUEST);
    assert.ok(outcome.ok);
    assert.deepEqual(greeted, ['a:1', 'b:1']);
    router.close();
  });

  it('retries on another recently returned pod when the lookaside keeps handing back the failed one', async () => {
    const { router, greeted, down, script } = makeRouter([at('b:1'), at('a:1')]);
    assert.ok((await router.greet(REQUEST)).ok);
    script([at('a:1')]);
    down.add('a:1');
    const outcome = await router.greet(REQUEST);
    assert.ok(outcome.ok);
    assert.equal(outcome.address, 'b:1');
    assert.deepEqual(greeted, ['b:1', 'a:1', 'b:1']);
    router.close();
  });

  it('gives up with no-backend when the lookaside knows no other pod', async () => {
    const { router, down } = makeRouter([at('a:1')]);
    down.add('a:1');
    const outcome = await router.greet(REQUEST);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.ok ? '' : outcome.kind, 'no-backend');
    router.close();
  });

  it('does not retry a second time when the retry fails too', async () => {
    const { router, greeted, down } = makeRouter([at('a:1'), at('b:1'), at('c:1')]);
    down.add('a:1');
    down.add('b:1');
    const outcome = await router.greet(REQUEST);
    assert.equal(outcome.ok, false);
    assert.deepEqual(greeted, ['a:1', 'b:1']);
    router.close();
  });

  it('answers no-backend with a short reason when the lookaside says the Service has no endpoints, and stays ready', async () => {
    const { router, greeted } = makeRouter([at('a:1'), NOT_FOUND]);
    assert.ok((await router.greet(REQUEST)).ok);
    const outcome = await router.greet(REQUEST);
    assert.ok(!outcome.ok);
    assert.equal(outcome.kind, 'no-backend');
    assert.equal(outcome.message, 'the lookaside knows no endpoints of Service default/greetserver');
    // The lookaside's words (a file path here) go to the log only.
    assert.match(outcome.detail, /endpoints\.yaml/);
    // The answer stands: no fallback to the pod seen before.
    assert.deepEqual(greeted, ['a:1']);
    assert.equal(router.readiness().ready, true);
    assert.equal(router.readiness().detail['degraded'], false);
    router.close();
  });

  it('takes "no endpoint ready" as the answer too', async () => {
    const { router, greeted } = makeRouter([at('a:1'), NONE_READY]);
    await router.greet(REQUEST);
    const outcome = await router.greet(REQUEST);
    assert.deepEqual(outcome.ok ? undefined : [outcome.kind, outcome.message], ['no-backend', 'no endpoint of Service default/greetserver is ready']);
    assert.deepEqual(greeted, ['a:1']);
    assert.equal(router.readiness().detail['degraded'], false);
    router.close();
  });

  for (const code of [Status.RESOURCE_EXHAUSTED, Status.PERMISSION_DENIED, Status.INTERNAL]) {
    it(`degrades to recently seen pods when the lookaside answers ${Status[code]}, and /readyz says why`, async () => {
      const { router, greeted, script, degradedGauge } = makeRouter([at('a:1'), at('b:1')]);
      await router.greet(REQUEST);
      await router.greet(REQUEST);
      script([fault(code)]);
      for (let i = 0; i < 4; i += 1) assert.ok((await router.greet(REQUEST)).ok);
      assert.deepEqual(new Set(greeted.slice(2)), new Set(['a:1', 'b:1']));
      const readiness = router.readiness();
      assert.equal(readiness.ready, true);
      assert.equal(readiness.detail['degraded'], true);
      assert.equal(readiness.detail['lookaside'], 'failing');
      assert.equal(readiness.detail['reason'], `the lookaside answers ${Status[code]}`);
      assert.equal(await degradedGauge(), 1);
      router.close();
    });
  }

  it('with nothing to fall back on, fails a lookaside fault as no-backend without its words, and is not ready', async () => {
    const { router } = makeRouter([fault(Status.RESOURCE_EXHAUSTED)]);
    const outcome = await router.greet(REQUEST);
    assert.ok(!outcome.ok);
    assert.equal(outcome.message, 'the lookaside answers RESOURCE_EXHAUSTED and no greet server was seen recently');
    assert.match(outcome.detail, /MAX_SERVICES/);
    const readiness = router.readiness();
    assert.equal(readiness.ready, false);
    assert.doesNotMatch(readiness.summary, /MAX_SERVICES/);
    router.close();
  });

  it('says "unreachable" without the transport error when the lookaside cannot be asked', async () => {
    const { router } = makeRouter([UNREACHABLE]);
    const outcome = await router.greet(REQUEST);
    assert.ok(!outcome.ok);
    assert.equal(outcome.message, 'the lookaside is unreachable (UNAVAILABLE) and no greet server was seen recently');
    assert.match(outcome.detail, /ECONNREFUSED 10\.0\.0\.5/);
    assert.equal(router.readiness().detail['lookaside'], 'unreachable');
    router.close();
  });

  it('gives a short reason without pod addresses when the retry finds no pod', async () => {
    const { router, down } = makeRouter([at('10.0.0.1:50051')]);
    down.add('10.0.0.1:50051');
    const outcome = await router.greet(REQUEST);
    assert.ok(!outcome.ok);
    assert.equal(outcome.message, 'no greet server could take the call');
    assert.match(outcome.detail, /10\.0\.0\.1:50051/);
    router.close();
  });

  it('degrades to round robin over recently seen pods when the lookaside is unreachable', async () => {
    const { router, greeted, script, degradedGauge, resolves } = makeRouter([at('a:1'), at('b:1')]);
    await router.greet(REQUEST);
    await router.greet(REQUEST);
    script([UNREACHABLE]);
    const outcomes = await Promise.all([router.greet(REQUEST), router.greet(REQUEST), router.greet(REQUEST), router.greet(REQUEST)]);
    assert.ok(outcomes.every((outcome) => outcome.ok));
    assert.deepEqual(new Set(greeted.slice(2)), new Set(['a:1', 'b:1']));
    const readiness = router.readiness();
    assert.equal(readiness.ready, true);
    assert.equal(readiness.detail['degraded'], true);
    assert.equal(await degradedGauge(), 1);
    // Once degraded, requests stop waiting on the lookaside; only the probe asks.
    const resolvesWhileDegraded = resolves.length;
    await router.greet(REQUEST);
    assert.ok(resolves.length - resolvesWhileDegraded <= 1);
    router.close();
  });

  it('recovers when the probe reaches the lookaside again', async () => {
    const { router, script, degradedGauge } = makeRouter([at('a:1'), UNREACHABLE]);
    await router.greet(REQUEST);
    await router.greet(REQUEST);
    assert.equal(router.readiness().detail['degraded'], true);
    script([at('b:1')]);
    const deadline = Date.now() + 2_000;
    while (router.readiness().detail['degraded'] === true && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(router.readiness().detail['lookaside'], 'reachable');
    assert.equal(await degradedGauge(), 0);
    router.close();
  });

  it('degraded with no pod to fall back on, still asks the lookaside on each request', async () => {
    const { router, script, resolves } = makeRouter([UNREACHABLE]);
    assert.equal((await router.greet(REQUEST)).ok, false);
    script([at('a:1')]);
    const before = resolves.length;
    const outcome = await router.greet(REQUEST);
    assert.ok(outcome.ok);
    assert.equal(resolves.length, before + 1);
    assert.equal(router.readiness().detail['lookaside'], 'reachable');
    router.close();
  });

  it('is not ready, and answers no-backend, when degraded with no pod seen', async () => {
    const { router } = makeRouter([UNREACHABLE]);
    const outcome = await router.greet(REQUEST);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.ok ? '' : outcome.kind, 'no-backend');
    assert.equal(router.readiness().ready, false);
    router.close();
  });

  it('in degraded mode, drops a pod that fails and retries on another', async () => {
    const { router, greeted, down, script } = makeRouter([at('a:1'), at('b:1')]);
    await router.greet(REQUEST);
    await router.greet(REQUEST);
    script([UNREACHABLE]);
    down.add('a:1');
    for (let i = 0; i < 4; i += 1) assert.ok((await router.greet(REQUEST)).ok);
    // a:1 failed at most once, then left the rotation.
    assert.ok(greeted.slice(2).filter((address) => address === 'a:1').length <= 1);
    router.close();
  });
});
