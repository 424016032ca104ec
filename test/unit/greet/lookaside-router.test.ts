import assert from 'node:assert/strict';

import { at, makeRouter, REQUEST, UNREACHABLE } from './lookaside-router-fixture.js';

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
