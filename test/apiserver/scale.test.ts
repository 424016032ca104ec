import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { ApiProxy } from '../support/api-proxy.js';
import type { ControlPlane } from '../support/control-plane.js';
import { seededRandom } from '../support/endpoints.js';
import { inPool } from '../support/pool.js';
import { delay } from '../support/process.js';
import { establishedConnections } from '../support/tcp-connections.js';
import { controlPlaneFor } from './fixture.js';
import { errorView, LookasideUnderTest, readyView, type View } from './lookaside.js';
import { Cluster, endpointSlice, podIp, uniqueName, type EndpointSpec } from './objects.js';

const NAMESPACES = 10;
const PER_NAMESPACE = 100;
/** Short, so the churn below spans several refreshes. */
const REFRESH_SECONDS = 4;
const CHURN_WRITES = 600;
const MAX_CONNECTIONS = 10;

interface Followed {
  readonly namespace: string;
  readonly name: string;
  /** The IP block of its pods: 10.<block>.x.y. */
  readonly block: number;
}


function endpoints(service: Followed, from: number, count: number): EndpointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ ip: podIp(service.block, from + i), ready: true }));
}

function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) / 1024;
}

describe('lookaside on a real kube-apiserver: 1,000 Services in 10 namespaces', function () {
  this.timeout(900_000);
  let plane: ControlPlane;
  let cluster: Cluster;
  const services: Followed[] = [];
  const namespaces: string[] = [];
  const lookasides: LookasideUnderTest[] = [];
  const proxies: ApiProxy[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
    cluster = new Cluster(plane.admin);
    for (let n = 0; n < NAMESPACES; n++) namespaces.push(uniqueName(`scale-${n}`));
    for (const namespace of namespaces) await cluster.createNamespace(namespace);
    namespaces.forEach((namespace, n) => {
      for (let i = 0; i < PER_NAMESPACE; i++) services.push({ namespace, name: `svc-${i}`, block: 100 + n * 10 + Math.floor(i / 10) });
    });
    const startedMs = Date.now();
    await inPool(services, 16, async (service, index) => {
      await cluster.createService(service.namespace, service.name);
      const first = (index % 10) * 20;
      await cluster.createSlice(endpointSlice(service.namespace, service.name, `${service.name}-a`, endpoints(service, first, 3)));
    });
    console.log(`      created ${services.length} Services and their slices in ${Date.now() - startedMs} ms`);
  });

  after(async function () {
    await Promise.all(lookasides.map((lookaside) => lookaside.stop()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  async function startBehindProxy(env: Record<string, string>): Promise<{ lookaside: LookasideUnderTest; proxy: ApiProxy }> {
    const apiserver = plane.apiserver;
    // TLS with the API server's own certificate, so the lookaside speaks HTTP/2 to the proxy as it would to the API server.
    const proxy = await ApiProxy.start(apiserver.server, apiserver.caCertificate(), { tls: apiserver.servingCertificate() });
    proxies.push(proxy);
    const kubeconfig = plane.writeKubeconfig(uniqueName('scale'), plane.adminToken, { server: proxy.url, caFile: apiserver.caFile });
    const lookaside = await LookasideUnderTest.start(kubeconfig, env);
    lookasides.push(lookaside);
    return { lookaside, proxy };
  }

  /** The view the API holds for a Service, by the API's own rules. */
  async function apiView(service: Followed): Promise<View> {
    const ready = await cluster.readyAddresses(service.namespace, service.name);
    return ready === undefined ? errorView('NOT_FOUND') : ready.size === 0 ? errorView('UNAVAILABLE') : readyView(ready);
  }

  it('follows them over at most 10 connections and 1 LIST per namespace per refresh, and matches the API after churn', async function () {
    const { lookaside, proxy } = await startBehindProxy({ REFRESH_INTERVAL_SECONDS: String(REFRESH_SECONDS), MAX_SERVICES: '2000' });
    const pid = lookaside.process.child.pid as number;

    const warmStartedMs = Date.now();
    await inPool(services, 50, async (service) => {
      await lookaside.waitForView(service.namespace, service.name, await apiView(service), { timeoutMs: 60_000 });
    });
    const warmMs = Date.now() - warmStartedMs;
    const afterWarm = establishedConnections(pid, proxy.port);
    console.log(
      `      ${services.length} Services resolved (50 at a time) in ${warmMs} ms; ` +
        `${afterWarm} TCP connection(s) to the API; ${proxy.listsStarted()} LISTs (${proxy.listPages} pages); RSS ${rssMiB(pid).toFixed(0)} MiB`,
    );
    assert.ok(afterWarm >= 1 && afterWarm <= MAX_CONNECTIONS, `${afterWarm} connections`);
    for (const namespace of namespaces) assert.ok(proxy.listsStarted(namespace) >= 1, `${namespace} was never listed`);

    // Churn across every namespace while Resolve keeps being called.
    const random = seededRandom(Number(process.env['LOOKASIDE_CHURN_SEED'] ?? 11));
    const listsBefore = proxy.listsStarted();
    const churnStartedMs = Date.now();
    const touched = new Set<Followed>();
    const second = new Set<Followed>();
    const sizes = new Map<Followed, number>();
    const writes = Array.from({ length: CHURN_WRITES }, () => services[Math.floor(random() * services.length)] as Followed);
    await inPool(writes, 8, async (service, i) => {
      touched.add(service);
      const roll = random();
      const name = `${service.name}-a`;
      if (roll < 0.5) {
        const size = sizes.get(service) ?? 3;
        await cluster.patchEndpoint(service.namespace, name, Math.floor(random() * size), { ready: random() < 0.5 }).catch(ignoreMissing);
      } else if (roll < 0.75) {
        const size = 1 + Math.floor(random() * 4);
        sizes.set(service, size);
        await cluster.replaceSlice(endpointSlice(service.namespace, service.name, name, endpoints(service, 100 + (i % 50), size)));
      } else if (!second.has(service)) {
        second.add(service);
        await cluster.createSlice(endpointSlice(service.namespace, service.name, `${service.name}-b`, endpoints(service, 200, 2)));
      } else {
        second.delete(service);
        await cluster.deleteSlice(service.namespace, `${service.name}-b`);
      }
    });
    // Let at least two refresh intervals pass, so the refresh's LISTs are counted.
    await delay(Math.max(0, 2 * REFRESH_SECONDS * 1000 - (Date.now() - churnStartedMs)));
    const windowMs = Date.now() - churnStartedMs;
    const lists = proxy.listsStarted() - listsBefore;

    const checked = [...touched, ...services.filter((service) => !touched.has(service)).slice(0, 100)];
    const convergeStartedMs = Date.now();
    await inPool(checked, 20, async (service) => {
      await lookaside.waitForView(service.namespace, service.name, await apiView(service), { timeoutMs: 30_000 });
    });
    const afterChurn = establishedConnections(pid, proxy.port);
    // Each namespace re-lists every 0.9–1.1 × REFRESH_INTERVAL_SECONDS.
    const allowed = NAMESPACES * (Math.floor(windowMs / (0.9 * REFRESH_SECONDS * 1000)) + 1);
    console.log(
      `      ${CHURN_WRITES} writes to ${touched.size} Services in ${windowMs} ms: ${lists} LISTs (allowed ${allowed}: ${NAMESPACES} namespaces, ` +
        `refresh ${REFRESH_SECONDS} s), ${((lists * 1000) / windowMs).toFixed(2)} LIST/s; ${checked.length} Services equal to the API ` +
        `${Date.now() - convergeStartedMs} ms later; ${afterChurn} connection(s); RSS ${rssMiB(pid).toFixed(0)} MiB`,
    );
    assert.ok(lists <= allowed, `${lists} LISTs in ${windowMs} ms`);
    assert.ok(lists >= NAMESPACES, 'the periodic refresh ran');
    assert.ok(afterChurn <= MAX_CONNECTIONS, `${afterChurn} connections after the churn`);
    assert.ok(lookaside.running);
  });

  it('still refuses namespaces outside ALLOWED_NAMESPACES, without listing them', async function () {
    const allowed = namespaces.slice(0, 5);
    const { lookaside, proxy } = await startBehindProxy({ ALLOWED_NAMESPACES: allowed.join(',') });
    const inside = services.find((service) => service.namespace === allowed[0]) as Followed;
    await lookaside.waitForView(inside.namespace, inside.name, await apiView(inside));
    for (const namespace of namespaces.slice(5)) {
      const answer = await lookaside.resolve(namespace, 'svc-0');
      assert.equal(!answer.ok && answer.code, 'PERMISSION_DENIED');
      assert.match(!answer.ok ? answer.details : '', /ALLOWED_NAMESPACES/);
      assert.equal(proxy.listsStarted(namespace), 0);
    }
    assert.equal(proxy.listsStarted(), 1, 'one list, of the allowed namespace asked for');
  });
});

/** A patch of an endpoint another writer removed meanwhile (HTTP 422 from the JSON patch) is no error of the lookaside's. */
function ignoreMissing(error: unknown): void {
  if (!(error instanceof Error && /HTTP 422/.test(error.message))) throw error;
}
