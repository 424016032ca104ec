import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';

import type { ResolveResult } from '../../../src/greet/gateway/lookaside-client.js';
import { at, fault, makeRouter, NONE_READY, NOT_FOUND, REQUEST, UNREACHABLE } from './lookaside-router-fixture.js';

describe('LookasideRouter: which lookaside answers stand, which degrade it, and what callers are told', () => {
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

  const NOTHING_SEEN: [string, ResolveResult, string, RegExp][] = [
    ['fault', fault(Status.RESOURCE_EXHAUSTED), 'the lookaside answers RESOURCE_EXHAUSTED', /MAX_SERVICES/],
    ['transport failure', UNREACHABLE, 'the lookaside is unreachable (UNAVAILABLE)', /ECONNREFUSED 10\.0\.0\.5/],
  ];
  for (const [what, answer, trouble, detail] of NOTHING_SEEN) {
    it(`with no pod seen, fails a lookaside ${what} as no-backend in a few words (the rest in the detail), and is not ready`, async () => {
      const { router } = makeRouter([answer]);
      const outcome = await router.greet(REQUEST);
      assert.ok(!outcome.ok);
      assert.equal(outcome.message, `${trouble} and no greet server was seen recently`);
      assert.match(outcome.detail, detail);
      const readiness = router.readiness();
      assert.equal(readiness.ready, false);
      assert.equal(readiness.detail['reason'], trouble);
      assert.doesNotMatch(readiness.summary, detail);
      router.close();
    });
  }

  it('gives a short reason without pod addresses when the retry finds no pod', async () => {
    const { router, down } = makeRouter([at('10.0.0.1:50051')]);
    down.add('10.0.0.1:50051');
    const outcome = await router.greet(REQUEST);
    assert.ok(!outcome.ok);
    assert.equal(outcome.message, 'no greet server could take the call');
    assert.match(outcome.detail, /10\.0\.0\.1:50051/);
    router.close();
  });
});
