import assert from 'node:assert/strict';
import { mock } from 'node:test';

import { silentLogger } from '../../src/common/logging.js';
import type { EndpointSliceApi, SliceList, WatchListener, WatchRequest } from '../../src/lookaside/discovery/kubernetes-api.js';
import { ServiceWatch, WATCH_SILENCE_LIMIT_MS, type RestartReason } from '../../src/lookaside/discovery/service-watch.js';

/** An API whose lists answer at once and whose watches a test drives by hand. */
class ScriptedApi implements EndpointSliceApi {
  lists = 0;
  readonly watches: Array<{ readonly request: WatchRequest; readonly listener: WatchListener; aborted: boolean }> = [];

  async list(): Promise<SliceList> {
    this.lists++;
    return { resourceVersion: '10', items: [] };
  }

  watch(request: WatchRequest, listener: WatchListener): { abort(): void } {
    const watch = { request, listener, aborted: false };
    this.watches.push(watch);
    return { abort: () => (watch.aborted = true) };
  }

  get current(): ScriptedApi['watches'][number] {
    const last = this.watches.at(-1);
    if (last === undefined) throw new Error('no watch started');
    return last;
  }
}

/** Lets promise callbacks and setImmediate run (timers are mocked, setImmediate is not). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const BOOKMARK = { kind: 'EndpointSlice', metadata: { resourceVersion: '11' } };

describe('ServiceWatch: a watch gone silent', () => {
  let api: ScriptedApi;
  let restarts: RestartReason[];
  let watch: ServiceWatch | undefined;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    api = new ScriptedApi();
    restarts = [];
  });

  afterEach(() => {
    watch?.stop();
    watch = undefined;
    mock.timers.reset();
  });

  async function startWatching(silenceLimitMs?: number): Promise<void> {
    watch = new ServiceWatch({
      api,
      service: { namespace: 'default', name: 'greet' },
      refreshIntervalMs: 3_600_000,
      silenceLimitMs,
      backoff: { initialMs: 500, maxMs: 30_000 },
      logger: silentLogger(),
      onState: () => undefined,
      onRestart: (reason) => restarts.push(reason),
      random: () => 0.5,
    });
    watch.start();
    await settle();
    assert.equal(api.watches.length, 1, 'watching after the list');
  }

  it(`is replaced after ${WATCH_SILENCE_LIMIT_MS} ms without an event or a BOOKMARK, counted from the last one heard`, async () => {
    await startWatching();
    api.current.listener.onOpen();
    mock.timers.tick(80_000);
    api.current.listener.onEvent('BOOKMARK', BOOKMARK);
    mock.timers.tick(WATCH_SILENCE_LIMIT_MS - 1);
    assert.deepEqual(restarts, [], 'not before the limit since the last BOOKMARK');

    mock.timers.tick(1);
    assert.deepEqual(restarts, ['silent']);
    assert.equal(api.watches[0]?.aborted, true, 'the silent watch is closed');
    assert.equal(api.watches.length, 2, 'and a new one opened at once');
    assert.equal(api.current.request.resourceVersion, '11', 'from the last resourceVersion seen');
    assert.equal(api.lists, 1, 'without a new list');

    mock.timers.tick(WATCH_SILENCE_LIMIT_MS);
    assert.deepEqual(restarts, ['silent', 'silent'], 'the new watch is watched the same way');
    assert.equal(api.watches.length, 3);
  });

  it('keeps a quiet watch that hears a BOOKMARK about every minute, as kube-apiserver sends them', async () => {
    await startWatching();
    api.current.listener.onOpen();
    for (let minute = 0; minute < 10; minute++) {
      mock.timers.tick(61_000);
      api.current.listener.onEvent('BOOKMARK', BOOKMARK);
    }
    assert.deepEqual(restarts, []);
    assert.equal(api.watches.length, 1);
    assert.equal(api.current.aborted, false);
  });

  it('restarts a watch whose request is never answered', async () => {
    await startWatching();
    mock.timers.tick(WATCH_SILENCE_LIMIT_MS);
    assert.deepEqual(restarts, ['silent']);
    assert.equal(api.watches[0]?.aborted, true);
    assert.equal(api.watches.length, 2);
  });

  it('takes the silence limit it is given', async () => {
    await startWatching(5_000);
    api.current.listener.onOpen();
    mock.timers.tick(4_999);
    assert.deepEqual(restarts, []);
    mock.timers.tick(1);
    assert.deepEqual(restarts, ['silent']);
  });
});
