import assert from 'node:assert/strict';

import type { ControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/process.js';
import { countOf, resolveOnStream } from '../support/routed-resolves.js';
import { controlPlaneFor } from './fixture.js';
import { gatewayApiVersion, installGatewayApi } from './gateway-api.js';
import { LookasideUnderTest } from './lookaside.js';
import { Cluster, endpointSlice, podIp, summarize, uniqueName } from './objects.js';
import { applyRbac, loadLookasideRbac, serviceAccountToken } from './rbac.js';

const CONTROLLER = 'lookaside.dev/grpcroute-controller';
const GREET = '/greet.v1.GreetService/Greet';

interface RouteStatus {
  metadata: { generation: number; resourceVersion: string };
  status?: { parents?: Array<{ controllerName: string; parentRef: Record<string, unknown>; conditions: Array<{ type: string; status: string; reason: string; observedGeneration: number }> }> };
}

describe(`lookaside on a real kube-apiserver: Gateway API GRPCRoutes (CRDs ${gatewayApiVersion()}), under deploy/'s RBAC`, function () {
  this.timeout(90_000);
  let plane: ControlPlane;
  let cluster: Cluster;
  let lookaside: LookasideUnderTest;
  let namespace: string;
  /** Route write acknowledged → the next Resolve follows it. */
  const delaysMs: number[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
    cluster = new Cluster(plane.admin);
    await installGatewayApi(plane);
    const rbac = await loadLookasideRbac(plane);
    await applyRbac(plane, rbac);
    const kubeconfig = plane.writeKubeconfig('lookaside-routes', await serviceAccountToken(plane, rbac.serviceAccount.namespace, rbac.serviceAccount.name));
    namespace = rbac.namespaces?.[0] ?? uniqueName('routes');
    if (rbac.namespaces === undefined) await cluster.createNamespace(namespace);
    lookaside = await LookasideUnderTest.start(kubeconfig);
  });

  after(async () => {
    await lookaside?.stop();
    if (delaysMs.length > 0) console.log(`      GRPCRoute write acknowledged → the next Resolve follows it: ${summarize(delaysMs)}`);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(lookaside?.process.logs.slice(-15).map((line) => JSON.stringify(line)).join('\n'));
  });

  const routesPath = (): string => `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/grpcroutes`;

  /** A parent Service `<app>` (block 70) and its versions `<app>-v1` (block 71, two pods) and `<app>-v2` (block 72). */
  async function app(): Promise<{ name: string; which: (address: string) => string }> {
    const name = uniqueName('greet');
    const pods: Array<[string, number, number]> = [[name, 70, 1], [`${name}-v1`, 71, 2], [`${name}-v2`, 72, 1]];
    for (const [service, block, count] of pods) {
      const endpoints = Array.from({ length: count }, (_, n) => ({ ip: podIp(block, n), ready: true }));
      await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
    }
    const which = (address: string): string => ({ '10.70': 'parent', '10.71': 'v1', '10.72': 'v2' })[address.split('.').slice(0, 2).join('.')] ?? address;
    return { name, which };
  }

  function spec(parent: string, rules: unknown[]): Record<string, unknown> {
    return { parentRefs: [{ group: '', kind: 'Service', name: parent, port: 50051 }], rules };
  }

  function split(parent: string, v1: number, v2: number): unknown[] {
    return [{ backendRefs: [{ name: `${parent}-v1`, port: 50051, weight: v1 }, { name: `${parent}-v2`, port: 50051, weight: v2 }] }];
  }

  async function createRoute(name: string, body: Record<string, unknown>): Promise<void> {
    await plane.admin.json('POST', routesPath(), { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name, namespace }, spec: body });
  }

  async function replaceSpec(name: string, body: Record<string, unknown>): Promise<void> {
    await plane.admin.json('PATCH', `${routesPath()}/${name}`, { spec: body }, 'application/merge-patch+json');
  }

  /** Each answer as parent, v1, v2 or the failure's reason. */
  async function resolveMany(parent: string, which: (address: string) => string, count: number, extra: Record<string, unknown> = {}): Promise<string[]> {
    const answers = await resolveOnStream(lookaside.target, Array.from({ length: count }, () => ({ service: parent, namespace, ...extra })));
    return answers.map((answer) => (answer.ok ? which(answer.address) : answer.reason));
  }

  /** Resolves one at a time from `sinceMs` until an answer is `wanted`; records how long that took. */
  async function waitUntilFollowed(parent: string, which: (address: string) => string, wanted: string, sinceMs: number, extra: Record<string, unknown> = {}): Promise<void> {
    await eventually(async () => ((await resolveMany(parent, which, 1, extra))[0] === wanted ? true : undefined), 10_000, `a Resolve answered by ${wanted}`);
    delaysMs.push(Date.now() - sinceMs);
  }

  async function ourStatus(name: string, generation: number): Promise<Map<string, { status: string; reason: string }>> {
    return eventually(async () => {
      const route = await plane.admin.json<RouteStatus>('GET', `${routesPath()}/${name}`);
      const ours = route.status?.parents?.find((entry) => entry.controllerName === CONTROLLER);
      if (ours === undefined || route.metadata.generation !== generation) return undefined;
      if (ours.conditions.some((condition) => condition.observedGeneration !== generation)) return undefined;
      return new Map(ours.conditions.map((condition) => [condition.type, { status: condition.status, reason: condition.reason }]));
    }, 15_000, `status of ${name} at generation ${generation}`);
  }

  it('splits 10,000 Resolves exactly 90/10 once the route is created, and writes Accepted and ResolvedRefs with the generation', async () => {
    const { name, which } = await app();
    assert.deepEqual(countOf(await resolveMany(name, which, 5)), { parent: 5 });
    const created = Date.now();
    await createRoute(`${name}-split`, spec(name, split(name, 90, 10)));
    await waitUntilFollowed(name, which, 'v1', created);
    assert.deepEqual(countOf(await resolveMany(name, which, 10_000)), { v1: 9_000, v2: 1_000 });
    const conditions = await ourStatus(`${name}-split`, 1);
    assert.deepEqual(conditions.get('Accepted'), { status: 'True', reason: 'Accepted' });
    assert.deepEqual(conditions.get('ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  });

  it('follows method and header matches, first matching rule by the spec\'s precedence', async () => {
    const { name, which } = await app();
    await createRoute(`${name}-match`, spec(name, [
      { matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: `${name}-v2`, port: 50051 }] },
      { matches: [{ method: { service: 'greet.v1.GreetService', method: 'Greet' } }], backendRefs: [{ name: `${name}-v1`, port: 50051 }] },
    ]));
    await waitUntilFollowed(name, which, 'v1', Date.now(), { method: GREET });
    assert.deepEqual(await resolveMany(name, which, 2, { method: GREET }), ['v1', 'v1']);
    assert.deepEqual(await resolveMany(name, which, 2, { method: '/greet.v1.GreetService/Other', headers: { 'x-canary': 'yes' } }), ['v2', 'v2']);
    assert.deepEqual(await resolveMany(name, which, 2, { method: '/greet.v1.GreetService/Other' }), ['parent', 'parent']);
  });

  it('changes weights and flips blue-green 100/0 → 0/100 with no call to v1 after the flip, nor after v1 is removed; a deleted route leaves the plain Service', async () => {
    const { name, which } = await app();
    const route = `${name}-bluegreen`;
    await createRoute(route, spec(name, split(name, 50, 50)));
    await waitUntilFollowed(name, which, 'v2', Date.now());
    assert.deepEqual(countOf(await resolveMany(name, which, 1_000)), { v1: 500, v2: 500 });

    let since = Date.now();
    await replaceSpec(route, spec(name, split(name, 100, 0)));
    await eventually(async () => (countOf(await resolveMany(name, which, 20))['v1'] === 20 ? true : undefined), 10_000, 'all on v1');
    delaysMs.push(Date.now() - since);

    // Resolve continuously while flipping: once v2 answers, v1 never does again.
    const seen: string[] = [];
    let flipping = true;
    const caller = (async () => {
      while (flipping) seen.push(...(await resolveMany(name, which, 50)));
    })();
    since = Date.now();
    await replaceSpec(route, spec(name, split(name, 0, 100)));
    await waitUntilFollowed(name, which, 'v2', since);
    await cluster.deleteSlice(namespace, `${name}-v1-a`);
    const afterRemoval = await resolveMany(name, which, 500);
    flipping = false;
    await caller;
    const firstV2 = seen.indexOf('v2');
    assert.ok(firstV2 >= 0, 'no answer from v2 while flipping');
    assert.deepEqual(countOf(seen.slice(firstV2)), { v2: seen.length - firstV2 });
    assert.deepEqual(countOf(afterRemoval), { v2: 500 });

    await plane.admin.json('DELETE', `${routesPath()}/${route}`);
    await eventually(async () => (countOf(await resolveMany(name, which, 10))['parent'] === 10 ? true : undefined), 10_000, 'the plain Service');
  });

  it('marks a missing backend ResolvedRefs=False BackendNotFound and fails only its share, with the observed generation of each change', async () => {
    const { name, which } = await app();
    const route = `${name}-broken`;
    await createRoute(route, spec(name, split(name, 1, 1)));
    assert.equal((await ourStatus(route, 1)).get('ResolvedRefs')?.status, 'True');

    await replaceSpec(route, spec(name, [{ backendRefs: [{ name: `${name}-v2`, port: 50051 }, { name: `${name}-v9`, port: 50051 }] }]));
    const conditions = await ourStatus(route, 2);
    assert.deepEqual(conditions.get('ResolvedRefs'), { status: 'False', reason: 'BackendNotFound' });
    assert.deepEqual(conditions.get('Accepted'), { status: 'True', reason: 'Accepted' });
    await eventually(async () => (countOf(await resolveMany(name, which, 10))['v1'] === undefined ? true : undefined), 10_000, 'the new rule');
    assert.deepEqual(countOf(await resolveMany(name, which, 100)), { v2: 50, ROUTE_BACKEND_UNAVAILABLE: 50 });
    const [failed] = (await resolveOnStream(lookaside.target, [{ service: name, namespace }, { service: name, namespace }])).filter((answer) => !answer.ok);
    assert.match(failed !== undefined && !failed.ok ? failed.message : '', new RegExp(`GRPCRoute ${namespace}/${route} sends this call to Service ${namespace}/${name}-v9, which does not exist`));
  });

  it('reports a RegularExpression match as Accepted=False UnsupportedValue and does not follow the route', async () => {
    const { name, which } = await app();
    const route = `${name}-regex`;
    await createRoute(route, spec(name, [{ matches: [{ method: { type: 'RegularExpression', service: 'greet\\..*' } }], backendRefs: [{ name: `${name}-v2`, port: 50051 }] }]));
    const conditions = await ourStatus(route, 1);
    assert.deepEqual(conditions.get('Accepted'), { status: 'False', reason: 'UnsupportedValue' });
    assert.deepEqual(countOf(await resolveMany(name, which, 4, { method: GREET })), { parent: 4 });
  });
});
