import assert from 'node:assert/strict';

import { ApiProxy } from '../support/api-proxy.js';
import type { Apiserver, ControlPlane } from '../support/control-plane.js';
import { delay, eventually } from '../support/process.js';
import { controlPlaneFor } from './fixture.js';
import { LookasideUnderTest, readyView, sameView } from './lookaside.js';
import { addressOf, Cluster, endpointSlice, podIp, uniqueName } from './objects.js';

/** Disables the watch cache for EndpointSlices, so watches are served by etcd and feel its compaction at once. */
const NO_SLICE_WATCH_CACHE = '--watch-cache-sizes=endpointslices.discovery.k8s.io#0';
const WATCH_RESTARTS = 'lookaside_watch_restarts_total';
/** kube-apiserver holds open watches after SIGTERM; kill it this soon after (a crash, or a supervisor's patience running out). */
const RESTART_GRACE_MS = 2_000;

describe('lookaside on a real kube-apiserver: watch robustness', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  /** A second API server on the same etcd: writes go through it while the first is down. */
  let second: Apiserver;
  let namespace: string;
  const lookasides: LookasideUnderTest[] = [];
  const proxies: ApiProxy[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
    second = await plane.addApiserver([NO_SLICE_WATCH_CACHE]);
    namespace = uniqueName('watch');
    await new Cluster(plane.admin).createNamespace(namespace);
  });

  afterEach(async function () {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    if (this.currentTest?.state !== 'failed') return;
    for (const lookaside of lookasides) console.log(lookaside.process.logs.slice(-20).map((line) => JSON.stringify(line)).join('\n'));
  });

  after(async function () {
    await Promise.all(lookasides.map((lookaside) => lookaside.stop()));
    await second?.stop();
    // Later suites expect the first API server up, whatever happened here.
    if (plane !== undefined && !plane.apiserver.running) await plane.apiserver.start();
  });

  async function startLookaside(kubeconfig: string, env: Record<string, string> = {}): Promise<LookasideUnderTest> {
    const lookaside = await LookasideUnderTest.start(kubeconfig, env);
    lookasides.push(lookaside);
    return lookaside;
  }

  /**
   * A lookaside reaching `apiserver` through an ApiProxy, already serving a new
   * Service whose one slice has three ready endpoints (pod IPs 10.<subnet>.0.x).
   */
  async function followedThroughProxy(
    apiserver: Apiserver,
    subnet: number,
    env: Record<string, string> = {},
  ): Promise<{ proxy: ApiProxy; lookaside: LookasideUnderTest; cluster: Cluster; service: string; name: string; all: string[] }> {
    const proxy = await ApiProxy.start(apiserver.server, apiserver.caCertificate());
    proxies.push(proxy);
    const lookaside = await startLookaside(plane.writeKubeconfig(`via-proxy-${subnet}`, plane.adminToken, proxy.url), env);
    const cluster = new Cluster(apiserver.admin);
    const service = uniqueName('svc');
    await cluster.createService(namespace, service);
    const endpoints = [0, 1, 2].map((n) => ({ ip: podIp(subnet, n), ready: true }));
    const name = `${service}-a`;
    await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
    const all = endpoints.map((e) => addressOf(e.ip));
    await lookaside.waitForView(namespace, service, readyView(all));
    return { proxy, lookaside, cluster, service, name, all };
  }

  it('keeps answering from its cache while the API server is down, then picks up what changed meanwhile', async function () {
    const lookaside = await startLookaside(plane.adminKubeconfig);
    const viaSecond = new Cluster(second.admin);
    const service = uniqueName('svc');
    await viaSecond.createService(namespace, service);
    const endpoints = [0, 1, 2].map((n) => ({ ip: podIp(30, n), ready: true }));
    await viaSecond.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
    const before = readyView(endpoints.map((e) => addressOf(e.ip)));
    await lookaside.waitForView(namespace, service, before);

    const failuresBefore = await lookaside.metric(WATCH_RESTARTS, { reason: 'error' });
    await plane.apiserver.stop(RESTART_GRACE_MS);
    const downSinceMs = Date.now();

    // While it is down (and the lookaside's retries fail), every Resolve still answers from the cache.
    await viaSecond.patchEndpoint(namespace, `${service}-a`, 0, { ready: false });
    const added = [{ ip: podIp(30, 10), ready: true }, { ip: podIp(30, 11), ready: true }];
    await viaSecond.createSlice(endpointSlice(namespace, service, `${service}-b`, added));
    let calls = 0;
    while (Date.now() - downSinceMs < 3_000) {
      const view = await lookaside.view(namespace, service);
      assert.ok(view !== undefined && sameView(view, before), `Resolve changed while the API server was down: ${JSON.stringify(view)}`);
      calls++;
      await delay(50);
    }
    assert.ok(lookaside.running, 'the lookaside exited while the API server was down');
    // A Service asked for the first time while the API is unreachable gets a clear UNAVAILABLE.
    const newcomer = uniqueName('svc');
    await viaSecond.createService(namespace, newcomer);
    await viaSecond.createSlice(endpointSlice(namespace, newcomer, `${newcomer}-a`, [{ ip: podIp(30, 20), ready: true }]));
    const unreachable = await lookaside.resolve(namespace, newcomer);
    assert.equal(!unreachable.ok && unreachable.code, 'UNAVAILABLE', JSON.stringify(unreachable));
    assert.match(!unreachable.ok ? unreachable.details : '', /unreachable/);
    assert.ok(
      (await lookaside.metric(WATCH_RESTARTS, { reason: 'error' })) > failuresBefore,
      'the lookaside did not notice the API server going away',
    );

    const restartedMs = Date.now();
    await plane.apiserver.start();
    const readyMs = Date.now() - restartedMs;
    const expected = readyView([podIp(30, 1), podIp(30, 2), podIp(30, 10), podIp(30, 11)].map(addressOf));
    const pickupMs = await lookaside.waitForView(namespace, service, expected, { sinceMs: restartedMs, timeoutMs: 60_000 });
    console.log(
      `      API server down ${restartedMs - downSinceMs} ms (${calls} rotations answered from cache meanwhile); ` +
        `restarted: /readyz ok after ${readyMs} ms, changes made meanwhile seen by Resolve after ${pickupMs} ms`,
    );

    await lookaside.waitForView(namespace, newcomer, readyView([addressOf(podIp(30, 20))]), { sinceMs: restartedMs, timeoutMs: 60_000 });

    // And the watch is live again: a new change arrives without waiting for a retry.
    const sinceMs = Date.now();
    await new Cluster(plane.admin).patchEndpoint(namespace, `${service}-a`, 0, { ready: true });
    const liveMs = await lookaside.waitForView(namespace, service, readyView([...expected.addresses, addressOf(podIp(30, 0))]), { sinceMs });
    console.log(`      first change after the restart seen in ${liveMs} ms`);
  });

  it('resumes a watch the server ended from its last resourceVersion, missing nothing that happened meanwhile', async function () {
    // Through the first API server, watch cache on, as in a cluster: the cache replays what the watch missed.
    const { proxy, lookaside, cluster, service, name, all } = await followedThroughProxy(plane.apiserver, 32);
    while (proxy.openWatches === 0) await delay(20);
    await delay(1_500);

    proxy.holdWatches();
    await cluster.patchEndpoint(namespace, name, 0, { ready: false });
    await delay(300);
    const stale = await lookaside.view(namespace, service);
    assert.ok(stale !== undefined && sameView(stale, readyView(all)), 'the held watch still delivered an event');
    const restartsBefore = await lookaside.metric(WATCH_RESTARTS);

    proxy.endWatches();
    const sinceMs = Date.now();
    const resumedMs = await lookaside.waitForView(namespace, service, readyView(all.slice(1)), { sinceMs });
    // A clean end of a long watch is not a failure: no restart counted, no backoff, no re-list.
    assert.equal(await lookaside.metric(WATCH_RESTARTS), restartsBefore);
    console.log(`      watch ended by the server; resumed from its resourceVersion, missed change seen in ${resumedMs} ms`);
  });

  it('still follows changes through its periodic re-list when the watch goes silent', async function () {
    const refreshSeconds = 2;
    const { proxy, lookaside, cluster, service, name, all } = await followedThroughProxy(plane.apiserver, 33, {
      REFRESH_INTERVAL_SECONDS: String(refreshSeconds),
    });

    // Every watch, including the ones opened after each re-list, now delivers nothing (a stalled connection).
    proxy.holdWatches();
    const ready = all.map(() => true);
    const seenMs: number[] = [];
    for (const [index, value] of [[0, false], [0, true], [2, false]] as const) {
      const sinceMs = Date.now();
      await cluster.patchEndpoint(namespace, name, index, { ready: value });
      ready[index] = value;
      const expected = readyView(all.filter((_, i) => ready[i]));
      seenMs.push(await lookaside.waitForView(namespace, service, expected, { sinceMs, timeoutMs: 3 * refreshSeconds * 1000 }));
    }
    console.log(`      watch stalled, REFRESH_INTERVAL_SECONDS=${refreshSeconds}: changes seen after ${seenMs.join(', ')} ms`);
  });

  it('replaces a watch gone silent (its connection frozen) from its resourceVersion over a new connection, and sees what changed meanwhile', async function () {
    const silenceSeconds = 2;
    const { proxy, lookaside, cluster, service, name, all } = await followedThroughProxy(plane.apiserver, 34, {
      WATCH_SILENCE_SECONDS: String(silenceSeconds),
    });
    await eventually(() => (proxy.openWatches >= 1 ? true : undefined), 10_000, 'the watch to open');

    // REFRESH_INTERVAL_SECONDS is an hour here: only a replaced watch can bring this change.
    assert.ok(proxy.freezeOpenWatches() >= 1);
    const sinceMs = Date.now();
    await cluster.patchEndpoint(namespace, name, 1, { ready: false });
    const seenMs = await lookaside.waitForView(namespace, service, readyView([all[0] ?? '', all[2] ?? '']), { sinceMs, timeoutMs: 30_000 });
    assert.ok((await lookaside.metric(WATCH_RESTARTS, { reason: 'silent' })) >= 1);
    console.log(`      watch frozen, WATCH_SILENCE_SECONDS=${silenceSeconds}: change made during the freeze seen after ${seenMs} ms`);
  });

  it('re-lists its namespace after the watch expired from compaction (410 Gone) and sees what it missed, for every Service there', async function () {
    const { proxy, lookaside, cluster, service, name, all } = await followedThroughProxy(second, 31);
    // A second Service in the same namespace, on the same namespace-wide watch.
    const neighbour = uniqueName('svc');
    await cluster.createService(namespace, neighbour);
    await cluster.createSlice(endpointSlice(namespace, neighbour, `${neighbour}-a`, [{ ip: podIp(31, 50), ready: true }]));
    await lookaside.waitForView(namespace, neighbour, readyView([addressOf(podIp(31, 50))]));
    // Let the watch settle past the lookaside's "closed right after it opened" threshold.
    while (proxy.openWatches === 0) await delay(20);
    await delay(1_500);

    // The lookaside stops hearing events; meanwhile one endpoint goes unready, the neighbour
    // gains a slice, and history is compacted.
    proxy.holdWatches();
    await cluster.patchEndpoint(namespace, name, 1, { ready: false });
    await cluster.createSlice(endpointSlice(namespace, neighbour, `${neighbour}-b`, [{ ip: podIp(31, 51), ready: true }]));
    for (let i = 0; i < 5; i++) await cluster.createService(namespace, uniqueName('filler'));
    const compactedAt = await plane.compactEtcd();
    await delay(300);
    const stale = await lookaside.view(namespace, service);
    assert.ok(stale !== undefined && sameView(stale, readyView(all)), 'the held watch still delivered an event');

    const expiredBefore = await lookaside.metric(WATCH_RESTARTS, { reason: 'expired' });
    proxy.endWatches();
    const sinceMs = Date.now();
    const recoveredMs = await lookaside.waitForView(namespace, service, readyView([all[0]!, all[2]!]), { sinceMs, timeoutMs: 30_000 });
    assert.equal(
      await lookaside.metric(WATCH_RESTARTS, { reason: 'expired' }),
      expiredBefore + 1,
      `expected one 410 restart; lookaside logs: ${JSON.stringify(lookaside.process.logs.slice(-5))}`,
    );
    await lookaside.waitForView(namespace, neighbour, readyView([addressOf(podIp(31, 50)), addressOf(podIp(31, 51))]), { timeoutMs: 10_000 });
    await lookaside.process.waitForLog((line) => line.msg === 'watch expired (410 Gone); re-listing', 5_000);
    console.log(`      etcd compacted at revision ${compactedAt}; 410 → re-list → missed change seen in ${recoveredMs} ms`);

    // The new watch works.
    await cluster.patchEndpoint(namespace, name, 1, { ready: true });
    await lookaside.waitForView(namespace, service, readyView(all), { sinceMs: Date.now() });
  });
});
