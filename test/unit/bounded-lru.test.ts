import assert from 'node:assert/strict';

import { BoundedLru } from '../../src/common/bounded-lru.js';

function filled(capacity: number, keys: string[]): BoundedLru<string, number> {
  const lru = new BoundedLru<string, number>(capacity);
  keys.forEach((key, index) => lru.set(key, index));
  return lru;
}

describe('BoundedLru', () => {
  it('never holds more than its capacity, however many keys are set', () => {
    const lru = new BoundedLru<string, number>(3);
    for (let i = 0; i < 100; i++) {
      lru.set(`k${i}`, i);
      assert.ok(lru.size <= 3, `${lru.size} entries after ${i + 1} sets`);
    }
    assert.deepEqual([...lru.keys()], ['k97', 'k98', 'k99']);
    assert.deepEqual([...lru.values()], [97, 98, 99]);
  });

  it('forgets the least recently set first', () => {
    const lru = filled(3, ['a', 'b', 'c']);
    lru.set('d', 3);
    assert.deepEqual([...lru.keys()], ['b', 'c', 'd']);
    lru.set('e', 4);
    assert.equal(lru.has('b'), false);
    assert.deepEqual([...lru.keys()], ['c', 'd', 'e']);
  });

  it('makes an entry the most recent when it is read with get, so it outlives the others', () => {
    const lru = filled(3, ['a', 'b', 'c']);
    assert.equal(lru.get('a'), 0);
    assert.deepEqual([...lru.keys()], ['b', 'c', 'a']);
    lru.set('d', 3);
    assert.deepEqual([...lru.keys()], ['c', 'a', 'd']);
  });

  it('makes an entry the most recent when it is set again, keeping the new value and one entry', () => {
    const lru = filled(3, ['a', 'b', 'c']);
    lru.set('a', 10);
    assert.equal(lru.size, 3);
    lru.set('d', 3);
    assert.deepEqual([...lru.keys()], ['c', 'a', 'd']);
    assert.equal(lru.peek('a'), 10);
  });

  it('leaves the order alone when read with peek or has', () => {
    const lru = filled(3, ['a', 'b', 'c']);
    assert.equal(lru.peek('a'), 0);
    assert.equal(lru.has('a'), true);
    lru.set('d', 3);
    assert.equal(lru.has('a'), false);
    assert.deepEqual([...lru.keys()], ['b', 'c', 'd']);
  });

  it('answers undefined for a key it does not hold, without adding it', () => {
    const lru = filled(2, ['a']);
    assert.equal(lru.get('x'), undefined);
    assert.equal(lru.peek('x'), undefined);
    assert.equal(lru.size, 1);
  });

  it('refreshes an entry whose value is undefined like any other', () => {
    const lru = new BoundedLru<string, number | undefined>(2);
    lru.set('a', undefined);
    lru.set('b', 1);
    assert.equal(lru.get('a'), undefined);
    lru.set('c', 2);
    assert.deepEqual([...lru.keys()], ['a', 'c']);
  });

  it('deletes and clears', () => {
    const lru = filled(3, ['a', 'b', 'c']);
    assert.equal(lru.delete('b'), true);
    assert.equal(lru.delete('b'), false);
    assert.deepEqual([...lru.keys()], ['a', 'c']);
    lru.clear();
    assert.equal(lru.size, 0);
  });

  it('holds nothing with a capacity of 0', () => {
    const lru = filled(0, ['a', 'b']);
    assert.equal(lru.size, 0);
    assert.equal(lru.get('a'), undefined);
  });

  it('keeps the same entries, in the same order, as a plain LRU over a long mix of sets, gets, deletes and clears', () => {
    const lru = new BoundedLru<number, number>(50);
    /** The reference: an array, least recent first. */
    let model: Array<[number, number]> = [];
    let evictions = 0;
    // xorshift32, seeded: the same sequence on every run.
    let seed = 12_345;
    const random = (below: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % below;
    };
    for (let step = 0; step < 20_000; step++) {
      const key = random(200);
      const action = random(100);
      if (action < 60) {
        lru.set(key, step);
        model = [...model.filter(([k]) => k !== key), [key, step] as [number, number]];
        if (model.length > 50) {
          model.shift();
          evictions += 1;
        }
      } else if (action < 90) {
        const found = model.find(([k]) => k === key);
        assert.equal(lru.get(key), found?.[1]);
        if (found !== undefined) model = [...model.filter(([k]) => k !== key), found];
      } else if (action < 99) {
        assert.equal(lru.delete(key), model.some(([k]) => k === key));
        model = model.filter(([k]) => k !== key);
      } else {
        lru.clear();
        model = [];
      }
    }
    assert.deepEqual([...lru.keys()], model.map(([k]) => k));
    assert.deepEqual([...lru.values()], model.map(([, v]) => v));
    assert.ok(evictions > 1_000, `${evictions} evictions exercised`);
  });

  it('refuses a capacity that is not a whole number >= 0', () => {
    for (const capacity of [-1, 1.5, Number.NaN]) assert.throws(() => new BoundedLru(capacity), /capacity must be a whole number >= 0/);
  });
});
