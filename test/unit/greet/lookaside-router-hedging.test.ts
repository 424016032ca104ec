import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';

import type { RouteOutcome } from '../../../src/greet/gateway/router.js';
import { at, makeRouter, REQUEST } from './lookaside-router-fixture.js';

/** Lets the router's promise chains run (Resolve answered, Greet started, reports made) before time moves. */
async function settled(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

const HEDGE_DELAY_MS = 250;

/** Sends one request and lets the hedge delay pass (the hedge, if any, sent); its outcome to come, wrapped so that awaiting this does not wait for it. */
async function pastHedgeDelay(
  router: { greet: (request: typeof REQUEST) => Promise<RouteOutcome> },
  timers: { advance: (ms: number) => void },
): Promise<{ readonly outcome: Promise<RouteOutcome> }> {
  const outcome = router.greet(REQUEST);
  await settled();
  timers.advance(HEDGE_DELAY_MS);
  await settled();
  return { outcome };
}

describe('LookasideRouter hedging (GREET_HEDGE_DELAY_MS)', () => {
  it('sends a Greet the first pod has not answered within the hedge delay to another pod, and answers 200 from it', async () => {
    const { router, greeted, hung, timers, reported } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
    hung.add('a:1');
    const outcome = router.greet(REQUEST);
    await settled();
    timers.advance(HEDGE_DELAY_MS - 1);
    await settled();
    assert.deepEqual(greeted, ['a:1']);
    timers.advance(1);
    const answer = await outcome;
    await settled();
    assert.ok(answer.ok);
    assert.equal(answer.address, 'b:1');
    assert.deepEqual(greeted, ['a:1', 'b:1']);
    // The hung pod's call is given up and reported as timed out: ejection learns of it.
    assert.deepEqual(reported, ['b:1 0', `a:1 ${Status.DEADLINE_EXCEEDED}`]);
    router.close();
  });

  it('waits for a first pod that answers within the hedge delay: no second call', async () => {
    const { router, greeted, slow, timers, reported } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
    slow.set('a:1', HEDGE_DELAY_MS - 10);
    const outcome = router.greet(REQUEST);
    await settled();
    timers.advance(HEDGE_DELAY_MS - 10);
    await settled();
    timers.advance(HEDGE_DELAY_MS);
    const answer = await outcome;
    await settled();
    assert.ok(answer.ok);
    assert.equal(answer.address, 'a:1');
    assert.deepEqual(greeted, ['a:1']);
    assert.deepEqual(reported, ['a:1 0']);
    router.close();
  });

  it('answers timeout (504) only when the whole GREET_TIMEOUT_MS is spent, both pods hung', async () => {
    const { router, greeted, hung, timers, reported } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
    hung.add('a:1');
    hung.add('b:1');
    const seen: { answer?: RouteOutcome } = {};
    void router.greet(REQUEST).then((outcome) => (seen.answer = outcome));
    await settled();
    timers.advance(HEDGE_DELAY_MS);
    await settled();
    timers.advance(1_000 - HEDGE_DELAY_MS - 1);
    await settled();
    assert.equal(seen.answer, undefined);
    timers.advance(1);
    await settled();
    const answer = seen.answer as RouteOutcome | undefined;
    assert.equal(answer?.ok, false);
    assert.equal(answer?.ok === false ? answer.kind : '', 'timeout');
    assert.deepEqual(greeted, ['a:1', 'b:1']);
    assert.deepEqual(new Set(reported), new Set([`a:1 ${Status.DEADLINE_EXCEEDED}`, `b:1 ${Status.DEADLINE_EXCEEDED}`]));
    router.close();
  });

  it('hedges at most half the requests in flight (at least three) at once; the others wait for a hedge to end', async () => {
    const { router, greeted, hung, slow, timers } = makeRouter([...Array<ReturnType<typeof at>>(8).fill(at('a:1')), at('b:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
    hung.add('a:1');
    slow.set('b:1', 100);
    const outcomes = Array.from({ length: 8 }, () => router.greet(REQUEST));
    await settled();
    timers.advance(HEDGE_DELAY_MS);
    await settled();
    assert.equal(greeted.filter((address) => address === 'b:1').length, 4, 'so a slowdown of every pod cannot double the calls');
    timers.advance(100);
    await settled();
    assert.equal(greeted.filter((address) => address === 'b:1').length, 8, 'the first four answered: the others hedged');
    timers.advance(100);
    const answers = await Promise.all(outcomes);
    assert.deepEqual(
      answers.map((answer) => (answer.ok ? answer.address : answer.kind)),
      Array<string>(8).fill('b:1'),
    );
    router.close();
  });

  it('never hedges with a hedge delay of 0', async () => {
    const { router, greeted, hung, timers } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: 0 });
    hung.add('a:1');
    const outcome = router.greet(REQUEST);
    await settled();
    timers.advance(1_000);
    const answer = await outcome;
    assert.equal(answer.ok ? '' : answer.kind, 'timeout');
    assert.deepEqual(greeted, ['a:1']);
    router.close();
  });

  const firstStands = [
    { hedge: 'is beaten by it: released unreported', slowHedge: true, reports: ['a:1 0', 'b:1 not called'] },
    { hedge: 'fails UNAVAILABLE', slowHedge: false, reports: [`b:1 ${Status.UNAVAILABLE}`, 'a:1 0'] },
  ];
  for (const { hedge, slowHedge, reports } of firstStands) {
    it(`keeps the first pod's answer when the hedge ${hedge}`, async () => {
      const { router, greeted, slow, down, timers, reported } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
      slow.set('a:1', 400);
      if (slowHedge) slow.set('b:1', 400);
      else down.add('b:1');
      const { outcome } = await pastHedgeDelay(router, timers);
      assert.deepEqual(greeted, ['a:1', 'b:1']);
      timers.advance(400 - HEDGE_DELAY_MS);
      const answer = await outcome;
      await settled();
      assert.ok(answer.ok);
      assert.equal(answer.address, 'a:1');
      assert.deepEqual(reported, reports);
      router.close();
    });
  }

  it('with no other pod to hedge on, waits for the first call until the budget is spent', async () => {
    const { router, greeted, hung, timers, reported } = makeRouter([at('a:1')], { hedgeDelayMs: HEDGE_DELAY_MS });
    hung.add('a:1');
    const { outcome } = await pastHedgeDelay(router, timers);
    timers.advance(1_000 - HEDGE_DELAY_MS);
    const answer = await outcome;
    await settled();
    assert.equal(answer.ok ? '' : answer.kind, 'timeout');
    assert.deepEqual(greeted, ['a:1']);
    assert.deepEqual(reported, ['a:1 not called', 'a:1 not called', `a:1 ${Status.DEADLINE_EXCEEDED}`]);
    router.close();
  });

  it('releases the pod picked for a hedge when no budget is left to send it', async () => {
    const { router, greeted, hung, timers, reported } = makeRouter([at('a:1'), at('b:1')], { hedgeDelayMs: 999.5 });
    hung.add('a:1');
    const outcome = router.greet(REQUEST);
    await settled();
    timers.advance(999.5);
    await settled();
    timers.advance(1);
    const answer = await outcome;
    await settled();
    assert.equal(answer.ok ? '' : answer.kind, 'timeout');
    assert.deepEqual(greeted, ['a:1']);
    assert.deepEqual(reported, ['b:1 not called', `a:1 ${Status.DEADLINE_EXCEEDED}`]);
    router.close();
  });
});
