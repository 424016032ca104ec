import assert from 'node:assert/strict';
import { mock } from 'node:test';

import { silentLogger } from '../../src/common/logging.js';
import type { CompactSlice } from '../../src/lookaside/discovery/compact-slices.js';
import type { EndpointSliceApi, ListRequest, SlicePage, WatchListener, WatchRequest } from '../../src/lookaside/discovery/kubernetes-api.js';
import { MIN_HEALTHY_WATCH_MS, NamespaceWatch, WATCH_SILENCE_LIMIT_MS, type NamespaceSink, type RestartReason } from '../../src/lookaside/discovery/namespace-watch.js';

/** An API whose lists answer at once (from `pages`, one per request) and whose watches a test drives by hand. */
class ScriptedApi implements EndpointSliceApi {
  lists = 0;
  readonly listRequests: ListRequest[] = [];
  /** Pages of the next list, in order; a list with none answers one empty page at version 10. */
  pages: SlicePage[] = [];
  readonly watches: Array<{ readonly request: WatchRequest; readonly listener: WatchListener; aborted: boolean }> = [];

  async listPage(request: ListRequest): Promise<SlicePage> {
    if (request.continueToken === '') this.lists++;
    this.listRequests.push(request);
    return this.pages.shift() ?? { resourceVersion: '10', continueToken: '', items: [] };
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

const BOOKMARK = { type: 'BOOKMARK', resourceVersion: '11' } as const;

function slice(name: string, resourceVersion: string): CompactSlice {
  return { name, service: 'greet', resourceVersion, ports: [], portsSignature: '', ips: [], pods: [], sites: [], servable: new Uint8Array(0) };
}

/** A sink that records what it was told, and can stop the watch when told of a list. */
class RecordingSink implements NamespaceSink {
  readonly calls: string[] = [];
  onListed: () => void = () => undefined;

  listed(slices: readonly CompactSlice[]): void {
    this.calls.push(`listed ${slices.map((s) => s.name).join(',')}`);
    this.onListed();
  }

  changed(event: Parameters<NamespaceSink['changed']>[0]): void {
    this.calls.push(`${event.type} ${event.type === 'DELETED' ? event.name : event.item.name}`);
  }

  failed(failure: Parameters<NamespaceSink['failed']>[0]): void {
    this.calls.push(`failed ${failure.kind}`);
  }
}

describe('NamespaceWatch', () => {
  let api: ScriptedApi;
  let sink: RecordingSink;
  let restarts: RestartReason[];
  let watch: NamespaceWatch | undefined;
  /** The watch's injected clock; Date is left alone, so only this clock tells it the time. */
  let nowMs: number;

  /** Moves the injected clock and the mocked timers together. */
  function tick(ms: number): void {
    nowMs += ms;
    mock.timers.tick(ms);
  }

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    nowMs = 1_000_000;
    api = new ScriptedApi();
    sink = new RecordingSink();
    restarts = [];
  });

  afterEach(() => {
    watch?.stop();
    watch = undefined;
    mock.timers.reset();
  });

  function create(silenceLimitMs?: number): NamespaceWatch {
    watch = new NamespaceWatch({
      api,
      namespace: 'default',
      refreshIntervalMs: 3_600_000,
      silenceLimitMs,
      backoff: { initialMs: 500, maxMs: 30_000 },
      logger: silentLogger(),
      sink,
      onRestart: (reason) => restarts.push(reason),
      pageSize: 2,
      random: () => 0.5,
      now: () => nowMs,
    });
    return watch;
  }

  async function startWatching(silenceLimitMs?: number): Promise<void> {
    create(silenceLimitMs).start();
    await settle();
    assert.equal(api.watches.length, 1, 'watching after the list');
  }

  describe('the list', () => {
    it('reads every page of the namespace, then watches from the list’s resourceVersion', async () => {
      api.pages = [
        { resourceVersion: '40', continueToken: 'after-b', items: [slice('a', '31'), slice('b', '32')] },
        { resourceVersion: '40', continueToken: 'after-d', items: [slice('c', '33'), slice('d', '34')] },
        { resourceVersion: '40', continueToken: '', items: [slice('e', '35')] },
      ];
      create().start();
      for (let i = 0; i < 5; i++) await settle();

      assert.deepEqual(
        api.listRequests.map((request) => [request.namespace, request.limit, request.continueToken]),
        [['default', 2, ''], ['default', 2, 'after-b'], ['default', 2, 'after-d']],
      );
      assert.equal(api.lists, 1, 'one list, in three pages');
      assert.deepEqual(sink.calls, ['listed a,b,c,d,e'], 'told once, with every page');
      assert.equal(api.current.request.resourceVersion, '40');
    });

    it('opens no watch when it is stopped while the list is delivered (nobody follows the namespace any more)', async () => {
      sink.onListed = () => watch?.stop();
      create().start();
      for (let i = 0; i < 3; i++) await settle();
      assert.deepEqual(sink.calls, ['listed ']);
      assert.equal(api.watches.length, 0);
    });

    it('passes changes on in order and follows their resourceVersions', async () => {
      await startWatching();
      api.current.listener.onOpen();
      api.current.listener.onEvent({ type: 'ADDED', item: slice('a', '12') });
      api.current.listener.onEvent({ type: 'MODIFIED', item: slice('a', '13') });
      api.current.listener.onEvent({ type: 'DELETED', name: 'a', resourceVersion: '14' });
      api.current.listener.onEvent({ type: 'BOOKMARK', resourceVersion: '20' });
      assert.deepEqual(sink.calls, ['listed ', 'ADDED a', 'MODIFIED a', 'DELETED a']);
      tick(2_000);
      api.current.listener.onDone();
      assert.equal(api.current.request.resourceVersion, '20', 'a clean end resumes from the last version heard');
      assert.equal(api.lists, 1);
    });

    it('tells the sink of a failure and lists again after the backoff', async () => {
      await startWatching();
      api.current.listener.onDone(new Error('connection reset'));
      assert.deepEqual(sink.calls, ['listed ', 'failed unavailable']);
      assert.deepEqual(restarts, ['error']);
      tick(499);
      await settle();
      assert.equal(api.lists, 1);
      tick(1);
      await settle();
      assert.equal(api.lists, 2);
      assert.deepEqual(sink.calls, ['listed ', 'failed unavailable', 'listed ']);
    });
  });

  describe('the backoff', () => {
    /** Fails the current watch (its stream reset) and returns when the retry's list is asked for, in ms. */
    async function retryDelayAfterFailure(): Promise<number> {
      const lists = api.lists;
      api.current.listener.onDone(new Error('connection reset'));
      for (let waitedMs = 1; waitedMs <= 60_000; waitedMs++) {
        tick(1);
        await settle();
        if (api.lists > lists) return waitedMs;
      }
      throw new Error('no list within 60 s of the failure');
    }

    it('doubles while watches fail soon after they open', async () => {
      await startWatching();
      api.current.listener.onOpen();
      assert.equal(await retryDelayAfterFailure(), 500);
      api.current.listener.onOpen();
      tick(MIN_HEALTHY_WATCH_MS - 1);
      assert.equal(await retryDelayAfterFailure(), 1_000);
      api.current.listener.onOpen();
      assert.equal(await retryDelayAfterFailure(), 2_000);
    });

    it(`starts again from the first delay once a watch stayed open ${MIN_HEALTHY_WATCH_MS} ms by its clock`, async () => {
      await startWatching();
      assert.equal(await retryDelayAfterFailure(), 500, 'a watch that never opened');
      assert.equal(await retryDelayAfterFailure(), 1_000);
      api.current.listener.onOpen();
      nowMs += MIN_HEALTHY_WATCH_MS; // the clock alone: no timer is due
      assert.equal(await retryDelayAfterFailure(), 500);
    });
  });

  describe('a watch gone silent', () => {
    it(`is replaced after ${WATCH_SILENCE_LIMIT_MS} ms without an event or a BOOKMARK, counted from the last one heard`, async () => {
      await startWatching();
      api.current.listener.onOpen();
      tick(80_000);
      api.current.listener.onEvent(BOOKMARK);
      tick(WATCH_SILENCE_LIMIT_MS - 1);
      assert.deepEqual(restarts, [], 'not before the limit since the last BOOKMARK');

      tick(1);
      assert.deepEqual(restarts, ['silent']);
      assert.equal(api.watches[0]?.aborted, true, 'the silent watch is closed');
      assert.equal(api.watches.length, 2, 'and a new one opened at once');
      assert.equal(api.current.request.resourceVersion, '11', 'from the last resourceVersion seen');
      assert.equal(api.lists, 1, 'without a new list');

      tick(WATCH_SILENCE_LIMIT_MS);
      assert.deepEqual(restarts, ['silent', 'silent'], 'the new watch is watched the same way');
      assert.equal(api.watches.length, 3);
    });

    it('keeps a quiet watch that hears a BOOKMARK about every minute, as kube-apiserver sends them', async () => {
      await startWatching();
      api.current.listener.onOpen();
      for (let minute = 0; minute < 10; minute++) {
        tick(61_000);
        api.current.listener.onEvent(BOOKMARK);
      }
      assert.deepEqual(restarts, []);
      assert.equal(api.watches.length, 1);
      assert.equal(api.current.aborted, false);
    });

    it('restarts a watch whose request is never answered', async () => {
      await startWatching();
      tick(WATCH_SILENCE_LIMIT_MS);
      assert.deepEqual(restarts, ['silent']);
      assert.equal(api.watches[0]?.aborted, true);
      assert.equal(api.watches.length, 2);
    });

    it('takes the silence limit it is given', async () => {
      await startWatching(5_000);
      api.current.listener.onOpen();
      tick(4_999);
      assert.deepEqual(restarts, []);
      tick(1);
      assert.deepEqual(restarts, ['silent']);
    });
  });
});
