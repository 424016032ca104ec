import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';

import { Registry } from 'prom-client';

import { silentLogger } from '../../src/common/logging.js';
import { ApiCredentials } from '../../src/lookaside/discovery/api-access.js';
import { KubeTransport } from '../../src/lookaside/discovery/api-transport.js';
import { transportSliceApi } from '../../src/lookaside/discovery/kubernetes-api.js';
import { KubernetesDiscovery } from '../../src/lookaside/discovery/kubernetes.js';
import { LIST_PAGE_SIZE, MIN_HEALTHY_WATCH_MS } from '../../src/lookaside/discovery/namespace-watch.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import { Resolver, type ResolveOutcome } from '../../src/lookaside/resolver.js';
import { WatchedServices } from '../../src/lookaside/watched-services.js';
import { capturingLogger } from '../support/capture-log.js';
import { endpointSlice, fakeApiAccess, FakeKubeApi, type EndpointSpec, type SliceSpec } from '../support/fake-kube-api.js';
import { delay, eventually, unusedPort } from '../support/process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/**
 * The Kubernetes discovery path end to end inside one process: the
 * lookaside's own list and watch (HTTP/1.1 here: the fake speaks plain HTTP),
 * over real sockets, against a fake API server; WatchedServices and Resolver
 * on top, as main.ts wires them.
 */

const NS = 'default';
const GREET = 'greet';
/** How long a change may take to reach Resolve before a test fails (the measured delays are printed). */
const CHANGE_DEADLINE_MS = 2_000;
const FAST_BACKOFF = { initialMs: 20, maxMs: 200 } as const;

interface Lookaside {
  readonly resolver: Resolver;
  readonly services: WatchedServices;
  readonly discovery: KubernetesDiscovery;
  readonly registry: Registry;
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

const measured: Array<{ change: string; ms: number }> = [];

interface StartOptions {
  readonly refreshIntervalMs?: number;
  readonly maxServices?: number;
  readonly lookupsPerSecond?: number;
  readonly watchSilenceLimitMs?: number;
  readonly pageSize?: number;
  /** The clock of WatchedServices (lookup budget, missing names); the real one by default. */
  readonly now?: () => number;
}

/** Wires discovery → WatchedServices → Resolver the way main.ts does, against `server`. */
function startLookaside(server: string, options: StartOptions = {}): Lookaside {
  const registry = new Registry();
  const metrics = new LookasideMetrics(registry);
  const { logger, lines } = capturingLogger();
  const discovery = KubernetesDiscovery.fromAccess(fakeApiAccess(server), {
    refreshIntervalMs: options.refreshIntervalMs ?? 600_000,
    metrics,
    logger: logger.child({ module: 'discovery' }),
    backoff: FAST_BACKOFF,
    watchSilenceLimitMs: options.watchSilenceLimitMs,
    pageSize: options.pageSize,
  });
  const services = new WatchedServices({
    source: discovery,
    maxServices: options.maxServices ?? 100,
    idleTimeoutMs: 600_000,
    lookupsPerSecond: options.lookupsPerSecond,
    now: options.now,
    metrics,
    logger: logger.child({ module: 'services' }),
  });
  const resolver = new Resolver({
    services,
    ownNamespace: NS,
    defaultPolicy: 'round_robin',
    allowedNamespaces: [],
    describeMissing: (namespace, name) => discovery.describeMissing({ namespace, name }),
  });
  return {
    resolver,
    services,
    discovery,
    registry,
    logs: lines,
    async close() {
      services.close();
      await discovery.close();
    },
  };
}

function query(service = GREET, namespace = NS): { service: string; namespace: string; policy: 'round_robin'; portName: string } {
  return { service, namespace, policy: 'round_robin', portName: '' };
}

/** A Resolve of a Service already followed: it must answer synchronously, from memory. */
function resolveNow(lookaside: Lookaside, service = GREET, namespace = NS): ResolveOutcome {
  const outcome = lookaside.resolver.resolve(query(service, namespace));
  if (outcome instanceof Promise) throw new Error(`Resolve of ${namespace}/${service} waited although the Service is followed`);
  return outcome;
}

/**
 * What Resolve hands out now: every ready address, comma-separated and sorted
 * (one full round-robin turn), or `!<reason>` when it fails.
 */
function servedNow(lookaside: Lookaside, service = GREET, namespace = NS): string {
  const first = resolveNow(lookaside, service, namespace);
  if (!first.ok) return `!${first.reason}`;
  const seen = new Set([first.endpoint.address]);
  for (let i = 1; i < first.readyEndpoints; i++) {
    const next = resolveNow(lookaside, service, namespace);
    if (!next.ok) return `!${next.reason}`;
    seen.add(next.endpoint.address);
  }
  return [...seen].sort().join(',');
}

/** The first Resolve of a Service (it may wait for the initial list), then `servedNow`. */
async function served(lookaside: Lookaside, service = GREET, namespace = NS): Promise<string> {
  const first = await lookaside.resolver.resolve(query(service, namespace), 5_000);
  if (!first.ok) return `!${first.reason}`;
  return servedNow(lookaside, service, namespace);
}

/**
 * Makes an API write and polls Resolve (yielding to I/O between polls) until it
 * serves `expected`; records and returns the delay from the write.
 */
async function measureChange(lookaside: Lookaside, change: string, write: () => void, expected: string, service = GREET): Promise<number> {
  const startedMs = performance.now();
  write();
  for (;;) {
    const now = servedNow(lookaside, service);
    const elapsedMs = performance.now() - startedMs;
    if (now === expected) {
      measured.push({ change, ms: elapsedMs });
      return elapsedMs;
    }
    if (elapsedMs > CHANGE_DEADLINE_MS) {
      assert.fail(`${change}: Resolve still serves ${now} after ${CHANGE_DEADLINE_MS} ms; expected ${expected}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves 1,000 names at once in `namespace`; counts the outcomes by reason. */
function flood(lookaside: Lookaside, prefix: string, namespace: string): Promise<Map<string, number>> {
  return floodNames(lookaside, Array.from({ length: 1_000 }, (_, i) => [namespace, `${prefix}-${i}`]));
}

async function floodNames(lookaside: Lookaside, names: ReadonlyArray<[string, string]>): Promise<Map<string, number>> {
  const outcomes = await Promise.all(names.map(([namespace, service]) => lookaside.resolver.resolve(query(service, namespace), 5_000)));
  const reasons = new Map<string, number>();
  for (const outcome of outcomes) {
    const reason = outcome.ok ? 'ok' : outcome.reason;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return reasons;
}

function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<true> {
  return eventually(() => (condition() ? true : undefined), timeoutMs, what);
}

async function restarts(lookaside: Lookaside, reason: string): Promise<number> {
  const metric = lookaside.registry.getSingleMetric('lookaside_watch_restarts_total');
  const values = (await metric?.get())?.values ?? [];
  return values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

function addresses(spec: Pick<EndpointSpec, 'ip'>[], port = 50051): string {
  return spec
    .map(({ ip }) => `${ip}:${port}`)
    .sort()
    .join(',');
}

function ips(prefix: string, count: number): EndpointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ ip: `${prefix}.${i + 1}` }));
}

describe('Kubernetes discovery through @kubernetes/client-node against a fake API server', function () {
  let fake: FakeKubeApi;
  let lookasides: Lookaside[];

  function start(options: StartOptions & { server?: string } = {}): Lookaside {
    const lookaside = startLookaside(options.server ?? fake.url, options);
    lookasides.push(lookaside);
    return lookaside;
  }

  function slice(spec: SliceSpec, namespace = NS): void {
    fake.applySlice(namespace, endpointSlice(spec));
  }

  /** Follows GREET and waits until its watch is open, so later writes arrive as watch events. */
  async function followGreet(lookaside: Lookaside, expected: string): Promise<void> {
    assert.equal(await served(lookaside), expected);
    await until(() => fake.openWatchCount === 1, 'the watch to open');
  }

  beforeEach(async function () {
    fake = await FakeKubeApi.start();
    lookasides = [];
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const lookaside of lookasides) {
        console.log(lookaside.logs.slice(-15).map((line) => JSON.stringify(line)).join('\n'));
      }
    }
    for (const lookaside of lookasides) await lookaside.close();
    await fake.close();
  });

  after(function () {
    if (measured.length === 0) return;
    console.log('\n    API write → visible to Resolve (in-process, client-node watch):');
    for (const { change, ms } of measured) console.log(`      ${ms.toFixed(1).padStart(7)} ms  ${change}`);
  });

  describe('the initial list', function () {
    it('holds the first Resolve until the list answers, then answers from it', async function () {
      slice({ service: GREET, name: 'greet-abcde', endpoints: [{ ip: '10.0.0.1', pod: 'greet-0', node: 'node-1', zone: 'zone-b' }] });
      const release = fake.holdLists();
      const lookaside = start();

      const pending = lookaside.resolver.resolve(query(), 5_000);
      assert.ok(pending instanceof Promise, 'the first Resolve waits for the list');
      let settled = false;
      void pending.then(() => (settled = true));
      await until(() => fake.listCount === 1, 'the list request');
      assert.equal(settled, false, 'Resolve answered before the list did');

      release();
      const outcome = await pending;
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.equal(outcome.endpoint.address, '10.0.0.1:50051');
      assert.equal(outcome.endpoint.podName, 'greet-0');
      assert.equal(outcome.endpoint.nodeName, 'node-1');
      assert.equal(outcome.endpoint.zone, 'zone-b');

      const list = fake.lastRequest('list');
      assert.equal(list?.namespace, NS);
      assert.equal(list?.labelSelector, 'kubernetes.io/service-name', 'the namespace’s slices of every Service');
      assert.equal(list?.query.get('limit'), String(LIST_PAGE_SIZE), 'paginated');
      assert.equal(list?.authorization, `Bearer ${fake.token}`);
      await until(() => fake.openWatchCount === 1, 'the watch to open');
      const watch = fake.lastRequest('watch');
      assert.equal(watch?.resourceVersion, String(fake.resourceVersion), 'the watch starts at the list’s resourceVersion');
      assert.equal(watch?.labelSelector, 'kubernetes.io/service-name');
      assert.equal(watch?.query.get('allowWatchBookmarks'), 'true');
      assert.ok(Number(watch?.query.get('timeoutSeconds')) >= 300, 'the watch asks the server to end it after a while');
    });

    it('merges every EndpointSlice of a Service: 120 endpoints across 3 slices', async function () {
      const first = ips('10.1.1', 50);
      const second = ips('10.1.2', 50);
      const third = ips('10.1.3', 20);
      slice({ service: GREET, endpoints: first });
      // 10.1.1.1 is moving between slices: listed twice, served once.
      slice({ service: GREET, endpoints: [...second, { ip: '10.1.1.1' }] });
      slice({ service: GREET, endpoints: [...third, { ip: '10.1.3.200', ready: false }, { ip: '10.1.3.201', ready: null }] });
      // Same name in another namespace, and another Service: neither leaks in.
      slice({ service: GREET, endpoints: [{ ip: '10.9.9.9' }] }, 'other');
      slice({ service: 'billing', endpoints: [{ ip: '10.8.8.8' }] });
      const lookaside = start();

      const expected = addresses([...first, ...second, ...third, { ip: '10.1.3.201' }]);
      assert.equal(await served(lookaside), expected);
      const outcome = resolveNow(lookaside);
      assert.ok(outcome.ok);
      assert.equal(outcome.readyEndpoints, 121, 'ready: null counts as ready; ready: false does not');
      assert.equal(await served(lookaside, GREET, 'other'), '10.9.9.9:50051');
    });
  });

  describe('changes through the watch', function () {
    it('shows ADDED, MODIFIED and DELETED slices to Resolve within milliseconds', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051,10.0.0.2:50051');

      const added = await measureChange(
        lookaside,
        'ADDED slice',
        () => slice({ service: GREET, name: 'greet-bbbbb', endpoints: [{ ip: '10.0.0.3' }] }),
        '10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50051',
      );
      const modified = await measureChange(
        lookaside,
        'MODIFIED slice (pod replaced)',
        () => slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.4' }] }),
        '10.0.0.1:50051,10.0.0.3:50051,10.0.0.4:50051',
      );
      const deleted = await measureChange(
        lookaside,
        'DELETED slice',
        () => assert.ok(fake.deleteSlice(NS, 'greet-bbbbb')),
        '10.0.0.1:50051,10.0.0.4:50051',
      );
      assert.equal(fake.listCount, 1, 'every change came through the one watch');
      assert.ok(Math.max(added, modified, deleted) < CHANGE_DEADLINE_MS);
    });

    it('stops handing out an endpoint that turns not ready, and hands it out again once ready', async function () {
      const spec = (ready: boolean): SliceSpec => ({
        service: GREET,
        name: 'greet-aaaaa',
        endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready }],
      });
      slice(spec(true));
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051,10.0.0.2:50051');

      await measureChange(lookaside, 'readiness lost', () => slice(spec(false)), '10.0.0.1:50051');
      await measureChange(lookaside, 'readiness regained', () => slice(spec(true)), '10.0.0.1:50051,10.0.0.2:50051');
    });

    it('never hands out a terminating endpoint, even one still ready and serving', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50051');

      await measureChange(
        lookaside,
        'pods terminating',
        () =>
          slice({
            service: GREET,
            name: 'greet-aaaaa',
            endpoints: [
              { ip: '10.0.0.1' },
              // A rolling update: not ready, still serving while it drains.
              { ip: '10.0.0.2', terminating: true, ready: false, serving: true },
              // publishNotReadyAddresses keeps ready true while terminating.
              { ip: '10.0.0.3', terminating: true, ready: true, serving: true },
            ],
          }),
        '10.0.0.1:50051',
      );
    });

    it('answers no-ready-endpoints when the Service scales to zero, and not-found once its slices are deleted', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051,10.0.0.2:50051');

      // The EndpointSlice controller keeps a placeholder slice with `endpoints: null, ports: null`.
      await measureChange(
        lookaside,
        'scaled to zero',
        () => slice({ service: GREET, name: 'greet-aaaaa', endpoints: [], ports: [] }),
        '!no-ready-endpoints',
      );
      const scaledToZero = resolveNow(lookaside);
      assert.ok(!scaledToZero.ok);
      assert.match(scaledToZero.message, /has no ready endpoint/);

      await measureChange(lookaside, 'every slice deleted', () => assert.ok(fake.deleteSlice(NS, 'greet-aaaaa')), '!not-found');
      const gone = resolveNow(lookaside);
      assert.ok(!gone.ok);
      assert.match(gone.message, /kubernetes\.io\/service-name=greet/);

      await measureChange(lookaside, 'scaled up again', () => slice({ service: GREET, endpoints: [{ ip: '10.0.0.7' }] }), '10.0.0.7:50051');
    });
  });

  describe('watch restarts', function () {
    it('resumes a watch the server ended from the BOOKMARK resourceVersion, without re-listing', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051');
      const listedAt = Number(fake.lastRequest('watch')?.resourceVersion);
      // Only a watch that lived past this threshold is resumed as is; a younger one counts as failed.
      await delay(MIN_HEALTHY_WATCH_MS + 100);

      // Other objects in the cluster changed; the bookmark carries the newer version.
      const bookmarkedAt = fake.advanceResourceVersion(25);
      fake.sendBookmark();
      const watchesBefore = fake.watchCount;
      fake.endWatches();
      await until(() => fake.watchCount === watchesBefore + 1 && fake.openWatchCount === 1, 'the watch to resume');

      assert.ok(bookmarkedAt > listedAt);
      assert.equal(fake.lastRequest('watch')?.resourceVersion, String(bookmarkedAt));
      assert.equal(fake.listCount, 1, 'a clean end resumes the watch without a new list');
      await measureChange(
        lookaside,
        'ADDED after a resumed watch',
        () => slice({ service: GREET, name: 'greet-bbbbb', endpoints: [{ ip: '10.0.0.2' }] }),
        '10.0.0.1:50051,10.0.0.2:50051',
      );
      assert.equal(await restarts(lookaside, 'error'), 0);
    });

    it('re-lists after a 410 Expired ERROR event and shows the changes made meanwhile', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051');

      // The change happened in history that is now compacted: no event will ever carry it.
      fake.applySliceSilently(NS, endpointSlice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.5' }] }));
      await measureChange(lookaside, '410 Expired → re-list', () => fake.expireWatches(), '10.0.0.1:50051,10.0.0.5:50051');

      assert.equal(fake.listCount, 2);
      await until(() => fake.openWatchCount === 1, 'the new watch');
      assert.equal(fake.lastRequest('watch')?.resourceVersion, String(fake.resourceVersion));
      assert.equal(await restarts(lookaside, 'expired'), 1);
      assert.match(await lookaside.registry.metrics(), /^lookaside_watch_restarts_total\{reason="expired"\} 1$/m);
    });

    it('re-lists when a resumed watch starts from a compacted resourceVersion', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051');
      await delay(MIN_HEALTHY_WATCH_MS + 100);

      fake.applySliceSilently(NS, endpointSlice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.6' }] }));
      fake.advanceResourceVersion(10);
      fake.compact();
      await measureChange(lookaside, 'resume at compacted version → 410 → re-list', () => fake.endWatches(), '10.0.0.6:50051');
      assert.equal(fake.listCount, 2);
      assert.equal(await restarts(lookaside, 'expired'), 1);
    });

    it('restarts after a dropped connection and answers every Resolve while the API server is down', async function () {
      const before = [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }];
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: before });
      const lookaside = start();
      await followGreet(lookaside, addresses(before));

      const outcomes: ResolveOutcome[] = [];
      fake.setOutage(true);
      // Resolve keeps answering while the lookaside's retries hit a dead server.
      await eventually(
        async () => {
          outcomes.push(resolveNow(lookaside));
          await delay(2);
          return fake.refusedConnections >= 3 ? true : undefined;
        },
        5_000,
        'three reconnection attempts',
      );
      const after = [...before, { ip: '10.0.0.4' }];
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: after });
      fake.setOutage(false);
      await eventually(
        async () => {
          outcomes.push(resolveNow(lookaside));
          await delay(2);
          return servedNow(lookaside) === addresses(after) ? true : undefined;
        },
        5_000,
        'the change made during the outage',
      );

      const failed = outcomes.filter((outcome) => !outcome.ok);
      assert.deepEqual(failed, [], 'every Resolve during the outage answered from the last known endpoints');
      assert.ok(outcomes.length > 10, `only ${outcomes.length} Resolve calls were made`);
      assert.ok((await restarts(lookaside, 'error')) >= 2, 'the drop and the failed retries count as restarts');
    });

    it('re-lists after an ERROR event other than 410 and keeps answering meanwhile', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051');

      fake.applySliceSilently(NS, endpointSlice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.8' }] }));
      await measureChange(lookaside, 'ERROR 500 event → re-list after backoff', () => fake.failWatches(500), '10.0.0.1:50051,10.0.0.8:50051');
      assert.equal(fake.listCount, 2);
      assert.equal(await restarts(lookaside, 'error'), 1);
      const warning = lookaside.logs.find((line) => line['msg'] === 'endpointslice watch failed; retrying');
      assert.match(String(warning?.['err']), /watch error event: 500/);
    });

    it('keeps answering from cache through a 500 on re-list, then recovers', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051,10.0.0.2:50051');

      fake.failNext(3, 500, { kinds: ['list'] });
      fake.dropWatches();
      const outcomes: ResolveOutcome[] = [];
      await eventually(
        async () => {
          outcomes.push(resolveNow(lookaside));
          await delay(2);
          return fake.openWatchCount === 1 ? true : undefined;
        },
        5_000,
        'the watch to come back after three failed lists',
      );
      assert.deepEqual(
        fake.requests.filter((request) => request.kind === 'list').map((request) => request.status),
        [200, 500, 500, 500, 200],
      );
      assert.deepEqual(outcomes.filter((outcome) => !outcome.ok), []);
      assert.ok((await restarts(lookaside, 'error')) >= 4, 'the drop and three failed lists');
      await measureChange(
        lookaside,
        'ADDED after recovering from 500s',
        () => slice({ service: GREET, name: 'greet-bbbbb', endpoints: [{ ip: '10.0.0.3' }] }),
        '10.0.0.1:50051,10.0.0.2:50051,10.0.0.3:50051',
      );
    });

    it('repairs a change the watch missed with the periodic re-list', async function () {
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start({ refreshIntervalMs: 300 });
      await followGreet(lookaside, '10.0.0.1:50051');

      await measureChange(
        lookaside,
        'missed event → periodic re-list (300 ms interval)',
        () => fake.applySliceSilently(NS, endpointSlice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.9' }] })),
        '10.0.0.9:50051',
      );
      assert.ok(fake.listCount >= 2);
      assert.equal((await restarts(lookaside, 'error')) + (await restarts(lookaside, 'expired')), 0, 'a refresh is not a restart');
    });

    it('keeps round robin exactly even across watch restarts with unchanged endpoints', async function () {
      const endpoints = [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }];
      slice({ service: GREET, name: 'greet-aaaaa', endpoints });
      const lookaside = start();
      await followGreet(lookaside, addresses(endpoints));

      const picks: string[] = [];
      const pick = (count: number): void => {
        for (let i = 0; i < count; i++) {
          const outcome = resolveNow(lookaside);
          assert.ok(outcome.ok);
          picks.push(outcome.endpoint.address);
        }
      };
      pick(31);
      let watches = fake.watchCount;
      fake.dropWatches();
      await until(() => fake.watchCount > watches && fake.openWatchCount === 1, 'the watch after a drop');
      pick(31);
      watches = fake.watchCount;
      fake.expireWatches();
      await until(() => fake.watchCount > watches && fake.openWatchCount === 1, 'the watch after a 410');
      pick(31);

      assert.equal(fake.listCount, 3, 'both restarts re-listed');
      const order = addresses(endpoints).split(',');
      const offset = order.indexOf(picks[0] as string);
      picks.forEach((address, i) => assert.equal(address, order[(offset + i) % 3], `pick ${i} broke the rotation`));
    });
  });

  describe('a watch gone silent', function () {
    let proxy: TcpProxy | undefined;

    afterEach(async function () {
      await proxy?.close();
      proxy = undefined;
    });

    it('notices a connection that went silent without closing, watches again over a new one, and shows what changed meanwhile', async function () {
      proxy = await TcpProxy.start(fake.port);
      // Bookmarks keep a quiet but healthy watch from looking silent, as kube-apiserver's do.
      fake.sendBookmarksEvery(100);
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start({ server: proxy.url, watchSilenceLimitMs: 1_500 });
      await followGreet(lookaside, '10.0.0.1:50051');

      const connectionsBefore = proxy.accepted;
      assert.ok(proxy.freeze() >= 1, 'the watch connection is frozen');
      slice({ service: GREET, name: 'greet-aaaaa', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] });
      await until(() => servedNow(lookaside) === '10.0.0.1:50051,10.0.0.2:50051', 'the change made during the freeze', 15_000);

      assert.ok((await restarts(lookaside, 'silent')) >= 1, 'restarted as silent');
      assert.ok(proxy.accepted > connectionsBefore, 'over a new connection');
      const logged = lookaside.logs.find((line) => line['msg'] === 'watch silent (no event, no BOOKMARK); watching again from its resourceVersion');
      assert.ok(Number(logged?.['silentMs']) >= 1_500, JSON.stringify(logged));
      assert.equal(fake.listCount, 1, 'the missed change came through the resumed watch, without a list');
      await until(() => fake.openWatchCount >= 1, 'a watch open again');
      await until(() => proxy?.frozenOpen === 0, 'the silent connection to be closed, not left behind');
    });
  });

  describe('failures before the first list', function () {
    it('answers discovery-unavailable promptly when the API server is unreachable on a first Resolve', async function () {
      const lookaside = start({ server: `http://127.0.0.1:${await unusedPort()}` });
      const startedMs = performance.now();
      const outcome = await lookaside.resolver.resolve(query(), 10_000);
      const elapsedMs = performance.now() - startedMs;

      assert.ok(!outcome.ok);
      assert.equal(outcome.reason, 'discovery-unavailable');
      // The failed list is the answer (its message says so), not the end of the 10 s wait.
      assert.match(outcome.message, /unreachable.*ECONNREFUSED/);
      assert.ok(elapsedMs < 10_000, `answered after ${elapsedMs.toFixed(0)} ms, only once the wait ran out`);
      const again = resolveNow(lookaside);
      assert.ok(!again.ok && again.reason === 'discovery-unavailable', 'the next Resolve answers at once');
    });

    it('starts answering once an unreachable API server comes back', async function () {
      slice({ service: GREET, endpoints: [{ ip: '10.0.0.1' }] });
      fake.setOutage(true);
      const lookaside = start();
      const outcome = await lookaside.resolver.resolve(query(), 10_000);
      assert.ok(!outcome.ok && outcome.reason === 'discovery-unavailable', JSON.stringify(outcome));

      fake.setOutage(false);
      await until(() => servedNow(lookaside) === '10.0.0.1:50051', 'Resolve to answer after the API server came back');
    });

    it('answers discovery-unavailable once its wait limit runs out when the list hangs', async function () {
      fake.holdLists();
      const lookaside = start();
      const startedMs = performance.now();
      const outcome = await lookaside.resolver.resolve(query(), 200);
      const elapsedMs = performance.now() - startedMs;

      assert.ok(!outcome.ok);
      assert.equal(outcome.reason, 'discovery-unavailable');
      assert.match(outcome.message, /not known yet: no answer from discovery within 200 ms; still trying/);
      assert.ok(elapsedMs >= 190, `answered after ${elapsedMs.toFixed(0)} ms, before the wait ran out`);
    });

    it('closes the connection of a list it gave up on (the API server never answered)', async function () {
      fake.holdLists();
      const transport = new KubeTransport(new ApiCredentials(fakeApiAccess(fake.url)), silentLogger());
      const api = transportSliceApi(transport);
      await assert.rejects(api.listPage({ namespace: NS, limit: 100, continueToken: '', timeoutSeconds: 1 }), /aborted/i);
      await until(() => fake.openConnectionCount === 0, 'the list connection to close');
      transport.close();
    });

    it('answers discovery-forbidden when RBAC refuses to list endpointslices', async function () {
      fake.failNext(1_000, 403, { kinds: ['list'] });
      const lookaside = start();
      const outcome = await lookaside.resolver.resolve(query(), 10_000);

      assert.ok(!outcome.ok);
      assert.equal(outcome.reason, 'discovery-forbidden');
      assert.match(outcome.message, /HTTP 403/);
      assert.match(outcome.message, /cannot list resource "endpointslices"/);
      assert.match(outcome.message, /RBAC/);
    });

    it('backs off, and says why, when listing is allowed but watching is forbidden', async function () {
      fake.failNext(1_000, 403, { kinds: ['watch'] });
      slice({ service: GREET, endpoints: [{ ip: '10.0.0.1' }] });
      const lookaside = start();
      assert.equal(await served(lookaside), '10.0.0.1:50051', 'the list alone is enough to answer');

      await until(() => fake.watchCount >= 7, 'seven watch attempts');
      const lists = fake.requests.filter((request) => request.kind === 'list');
      const gapsMs = lists.slice(1).map((request, i) => request.atMs - (lists[i]?.atMs ?? 0));
      // Backoff 20, 40, 80, 160, 200, 200 ms (±20%): the gaps must grow to the cap, not stay at the start.
      assert.ok((gapsMs[5] ?? 0) >= 120, `re-lists did not back off: gaps ${gapsMs.map((gap) => gap.toFixed(0)).join(', ')} ms`);
      const warning = lookaside.logs.find((line) => line['msg'] === 'endpointslice watch failed; retrying');
      assert.match(String(warning?.['err']), /refused to watch endpointslices \(HTTP 403\).*RBAC/);
      assert.equal(servedNow(lookaside), '10.0.0.1:50051');
    });
  });

  describe('one list and one watch per namespace', function () {
    it('follows 50 Services of a namespace over one paginated list and one watch', async function () {
      const services = Array.from({ length: 50 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
      services.forEach((service, i) => slice({ service, name: `${service}-aaaaa`, endpoints: [{ ip: `10.2.${i}.1` }, { ip: `10.2.${i}.2` }] }));
      slice({ service: 'unfollowed', endpoints: [{ ip: '10.3.0.1' }] });
      const lookaside = start({ pageSize: 7 });

      const first = await Promise.all(services.map((service) => served(lookaside, service)));
      assert.deepEqual(first, services.map((_, i) => `10.2.${i}.1:50051,10.2.${i}.2:50051`));
      await until(() => fake.openWatchCount === 1, 'the namespace’s watch');
      assert.equal(fake.listsStarted(), 1, 'one list for the namespace');
      assert.equal(fake.listCount, 8, '51 slices in pages of 7');
      assert.equal(fake.watchCount, 1);
      assert.ok(fake.openConnectionCount <= 2, `${fake.openConnectionCount} connections: the watch's, and one kept alive for lists`);
      assert.equal(lookaside.services.size, 50);

      await measureChange(
        lookaside,
        'MODIFIED slice, 1 of 50 Services on a shared watch',
        () => slice({ service: 'svc-07', name: 'svc-07-aaaaa', endpoints: [{ ip: '10.2.7.9' }] }),
        '10.2.7.9:50051',
        'svc-07',
      );
      assert.equal(servedNow(lookaside, 'svc-08'), '10.2.8.1:50051,10.2.8.2:50051');
    });

    it('answers a Service in a namespace it already watches from memory, created before or after the list', async function () {
      slice({ service: GREET, endpoints: [{ ip: '10.0.0.1' }] });
      slice({ service: 'billing', endpoints: [{ ip: '10.0.0.2' }] });
      const lookaside = start();
      await followGreet(lookaside, '10.0.0.1:50051');
      slice({ service: 'created-later', endpoints: [{ ip: '10.0.0.3' }] });
      await until(() => lookaside.discovery.answersFromMemory({ namespace: NS, name: 'anything' }), 'the namespace to be held');
      const requests = fake.requests.length;

      assert.equal(await served(lookaside, 'billing'), '10.0.0.2:50051');
      await until(() => servedNow(lookaside, 'created-later') === '10.0.0.3:50051', 'the Service created after the list', 2_000);
      assert.equal(fake.requests.length, requests, 'no request to the API server');
    });

    it('asks about namespaces one after another over one kept-alive connection', async function () {
      const lookaside = start();
      for (const namespace of ['ns-a', 'ns-b', 'ns-c', 'ns-d', 'ns-e']) {
        const outcome = await lookaside.resolver.resolve(query('nosuch', namespace), 5_000);
        assert.ok(!outcome.ok && outcome.reason === 'not-found', JSON.stringify(outcome));
      }
      assert.equal(fake.listsStarted(), 5);
      assert.equal(fake.acceptedConnections, 1, 'every list over the same connection');
    });
  });

  describe('names that are not Services', function () {
    it('looks a missing name up with one list, opens no watch for it, and answers it again from memory', async function () {
      const lookaside = start();
      const first = await lookaside.resolver.resolve(query('nosuch'), 5_000);
      assert.ok(!first.ok && first.reason === 'not-found', JSON.stringify(first));
      assert.match(first.message, /kubernetes\.io\/service-name=nosuch/);
      const again = resolveNow(lookaside, 'nosuch');
      assert.ok(!again.ok && again.reason === 'not-found');
      // A watch request would follow the list at once; give it the time to show up.
      await delay(100);
      assert.deepEqual(
        fake.requests.map((request) => `${request.kind} ${request.namespace} ${request.labelSelector}`),
        [`list ${NS} kubernetes.io/service-name`],
      );
      assert.equal(fake.openWatchCount, 0);
      assert.equal(lookaside.services.size, 0);
    });

    it('costs nothing for a flood of made-up names in a namespace it watches, one list otherwise', async function () {
      slice({ service: GREET, endpoints: [{ ip: '10.0.0.1' }] });
      const clock = { nowMs: 1_000_000 };
      const lookaside = start({ maxServices: 5, lookupsPerSecond: 10, now: () => clock.nowMs });

      // No Service followed there yet: the first name lists the namespace, the others wait on that list.
      assert.deepEqual(Object.fromEntries(await flood(lookaside, 'bogus-1', NS)), { 'not-found': 64, 'lookups-busy': 936 });
      assert.equal(fake.listsStarted(), 1);
      assert.equal(fake.watchCount, 0, 'no watch once nobody follows the namespace');

      clock.nowMs += 10_000;
      await followGreet(lookaside, '10.0.0.1:50051');
      const requests = fake.requests.length;
      for (let round = 0; round < 3; round++) {
        clock.nowMs += 10_000;
        assert.deepEqual(Object.fromEntries(await flood(lookaside, `bogus-${round + 2}`, NS)), { 'not-found': 64, 'lookups-busy': 936 });
      }
      assert.equal(fake.requests.length, requests, 'answered from the watched namespace, no request');
      assert.equal(lookaside.services.size, 1, 'more missing names than MAX_SERVICES took no slot');
    });

    it('costs the API server at most LOOKUPS_PER_SECOND lists for a flood of names in made-up namespaces', async function () {
      const clock = { nowMs: 1_000_000 };
      const lookaside = start({ maxServices: 5, lookupsPerSecond: 10, now: () => clock.nowMs });
      const names = (round: number): Array<[string, string]> => Array.from({ length: 1_000 }, (_, i) => [`bogus-${round}-${i}`, 'svc']);

      // A full bucket (twice the rate), then a second's worth of tokens.
      assert.deepEqual(Object.fromEntries(await floodNames(lookaside, names(1))), { 'not-found': 20, 'lookups-busy': 980 });
      clock.nowMs += 1_000;
      assert.deepEqual(Object.fromEntries(await floodNames(lookaside, names(2))), { 'not-found': 10, 'lookups-busy': 990 });
      assert.equal(fake.listsStarted(), 30);
      assert.equal(fake.watchCount, 0, 'no watch for a missing name');
    });
  });

  describe('stopping', function () {
    it('closes its watches and stops asking the API server once the lookaside stops', async function () {
      slice({ service: GREET, endpoints: [{ ip: '10.0.0.1' }] });
      slice({ service: 'billing', endpoints: [{ ip: '10.0.0.2' }] });
      const lookaside = start({ refreshIntervalMs: 100 });
      assert.equal(await served(lookaside), '10.0.0.1:50051');
      assert.equal(await served(lookaside, 'billing'), '10.0.0.2:50051');
      await until(() => fake.openWatchCount === 1, 'the namespace’s watch, shared by both');

      await lookaside.close();
      await until(() => fake.openWatchCount === 0, 'every watch to close');
      const requests = fake.requests.length;
      // Proving that nothing more happens needs a wait: five refresh intervals.
      await delay(500);
      assert.equal(fake.requests.length, requests, 'no list or watch after stopping');
    });
  });
});
