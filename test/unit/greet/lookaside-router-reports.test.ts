import assert from 'node:assert/strict';

import { at, makeRouter, REQUEST } from './lookaside-router-fixture.js';

describe('LookasideRouter reporting to the lookaside', () => {
  it('reports every Greet with its code, the failed first try and its retry alike', async () => {
    const { router, reported, down } = makeRouter([at('a:1'), at('b:1'), at('c:1')]);
    down.add('a:1');
    assert.ok((await router.greet(REQUEST)).ok);
    assert.ok((await router.greet(REQUEST)).ok);
    assert.deepEqual(reported, ['a:1 14', 'b:1 0', 'c:1 0']);
    router.close();
  });

  it('releases an answer it made no call with: the failed pod handed back for the retry', async () => {
    const { router, reported, down } = makeRouter([at('a:1'), at('a:1'), at('b:1')]);
    down.add('a:1');
    assert.ok((await router.greet(REQUEST)).ok);
    assert.deepEqual(reported, ['a:1 14', 'a:1 not called', 'b:1 0']);
    router.close();
  });

  it('releases the answer to its start-up probe, which sends no Greet', async () => {
    const { router, reported } = makeRouter([at('a:1')]);
    router.start();
    for (let i = 0; i < 10 && reported.length === 0; i += 1) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(reported, ['a:1 not called']);
    router.close();
  });
});
