import assert from 'node:assert/strict';
import { join } from 'node:path';

import type { ControlPlane } from '../support/control-plane.js';
import { KubeApiError } from '../support/kube-client.js';
import { delay, eventually, REPO_ROOT } from '../support/process.js';
import { containerEnv, kustomizations, named, render, type Deployment } from '../deploy/support/manifests.js';
import { controlPlaneFor } from './fixture.js';
import { installGatewayApi } from './gateway-api.js';
import { LookasideUnderTest, readyView } from './lookaside.js';
import { addressOf, Cluster, endpointSlice, podIp, uniqueName } from './objects.js';
import { applyRbac, ensureNamespace, loadLookasideRbac, serviceAccountToken, type LookasideRbac } from './rbac.js';

const ENDPOINTSLICES = 'endpointslices.discovery.k8s.io';
const GRPCROUTES = 'grpcroutes.gateway.networking.k8s.io';

describe('lookaside on a real kube-apiserver: least privilege', function () {
  this.timeout(60_000);
  let plane: ControlPlane;
  let cluster: Cluster;
  let rbac: LookasideRbac;
  /** A kubeconfig holding the deploy/ ServiceAccount's token. */
  let kubeconfig: string;
  /** A namespace the deploy/ grant covers. */
  let granted: string;
  const lookasides: LookasideUnderTest[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
    cluster = new Cluster(plane.admin);
    // kubectl auth can-i knows grpcroutes' group only once the CRD is there.
    await installGatewayApi(plane);
    rbac = await loadLookasideRbac(plane);
    await applyRbac(plane, rbac);
    const { namespace, name } = rbac.serviceAccount;
    kubeconfig = plane.writeKubeconfig('lookaside-sa', await serviceAccountToken(plane, namespace, name));
    granted = rbac.namespaces?.[0] ?? uniqueName('rbac');
    if (rbac.namespaces === undefined) await cluster.createNamespace(granted);
    console.log(`      RBAC from ${rbac.origin}: ServiceAccount ${namespace}/${name}, ${rbac.namespaces === undefined ? 'cluster-wide' : `namespaces ${rbac.namespaces.join(', ')}`}`);
  });

  after(async function () {
    await Promise.all(lookasides.map((lookaside) => lookaside.stop()));
  });

  async function startLookaside(config: string, env: Record<string, string> = {}): Promise<LookasideUnderTest> {
    const lookaside = await LookasideUnderTest.start(config, env);
    lookasides.push(lookaside);
    return lookaside;
  }

  async function canI(config: string, verb: string, resource: string, namespace: string): Promise<boolean> {
    // `resource/subresource` asks about the subresource (kubectl's --subresource).
    const [kind = resource, subresource] = resource.split('/');
    const args = ['auth', 'can-i', verb, kind, '-n', namespace, ...(subresource === undefined ? [] : [`--subresource=${subresource}`])];
    const answer = await plane.kubectl(args, { kubeconfig: config });
    if (answer.code !== 0 && answer.code !== 1) throw new Error(`kubectl auth can-i failed: ${answer.stderr}`);
    return answer.stdout.trim() === 'yes';
  }

  it('grants get, list and watch on EndpointSlices and GRPCRoutes, patch on GRPCRoute status, and nothing else', async function () {
    for (const verb of ['get', 'list', 'watch']) {
      assert.equal(await canI(kubeconfig, verb, ENDPOINTSLICES, granted), true, `cannot ${verb} endpointslices`);
      assert.equal(await canI(kubeconfig, verb, GRPCROUTES, granted), true, `cannot ${verb} grpcroutes`);
    }
    assert.equal(await canI(kubeconfig, 'patch', `${GRPCROUTES}/status`, granted), true, 'cannot patch grpcroutes/status');
    const refused: Array<[string, string]> = [
      ['create', ENDPOINTSLICES],
      ['update', ENDPOINTSLICES],
      ['patch', ENDPOINTSLICES],
      ['delete', ENDPOINTSLICES],
      ['create', GRPCROUTES],
      ['update', GRPCROUTES],
      ['patch', GRPCROUTES],
      ['delete', GRPCROUTES],
      ['update', `${GRPCROUTES}/status`],
      ['list', 'httproutes.gateway.networking.k8s.io'],
      ['list', 'pods'],
      ['list', 'services'],
      ['list', 'endpoints'],
      ['get', 'secrets'],
      ['watch', 'configmaps'],
    ];
    for (const [verb, resource] of refused) {
      assert.equal(await canI(kubeconfig, verb, resource, granted), false, `the lookaside may ${verb} ${resource}`);
    }
  });

  it('resolves and follows changes with only those permissions', async function () {
    const lookaside = await startLookaside(kubeconfig);
    const service = uniqueName('svc');
    await cluster.createService(granted, service);
    const endpoints = [0, 1, 2].map((n) => ({ ip: podIp(40, n), ready: true }));
    await cluster.createSlice(endpointSlice(granted, service, `${service}-a`, endpoints));
    const all = endpoints.map((e) => addressOf(e.ip));
    await lookaside.waitForView(granted, service, readyView(all));
    await cluster.patchEndpoint(granted, `${service}-a`, 2, { ready: false });
    await lookaside.waitForView(granted, service, readyView(all.slice(0, 2)));
  });

  it('answers PERMISSION_DENIED with a clear message for a namespace it may not read, keeps serving the others, and recovers once granted', async function () {
    // The same rules as deploy/, granted in one namespace only (a Role and RoleBinding there).
    const allowed = uniqueName('rbac-allowed');
    const forbidden = uniqueName('rbac-forbidden');
    for (const namespace of [allowed, forbidden]) await cluster.createNamespace(namespace);
    const account = 'lookaside-scoped';
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: account, namespace: allowed }, rules: rbac.rules };
    const binding = (namespace: string): object => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: account, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace: allowed }],
    });
    await plane.admin.json('POST', `/api/v1/namespaces/${allowed}/serviceaccounts`, { metadata: { name: account } });
    await plane.admin.json('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${allowed}/roles`, role);
    await plane.admin.json('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${allowed}/rolebindings`, binding(allowed));
    const scoped = plane.writeKubeconfig('lookaside-scoped', await serviceAccountToken(plane, allowed, account));
    const lookaside = await startLookaside(scoped);

    const service = uniqueName('svc');
    const views = new Map<string, string[]>();
    for (const [i, namespace] of [allowed, forbidden].entries()) {
      await cluster.createService(namespace, service);
      const endpoints = [0, 1].map((n) => ({ ip: podIp(41 + i, n), ready: true }));
      await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
      views.set(namespace, endpoints.map((e) => addressOf(e.ip)));
    }
    await lookaside.waitForView(allowed, service, readyView(views.get(allowed)!));

    const denied = await lookaside.resolve(forbidden, service);
    assert.equal(denied.ok, false);
    if (denied.ok) return;
    assert.equal(denied.code, 'PERMISSION_DENIED');
    assert.match(denied.details, new RegExp(`${forbidden}/${service}`));
    assert.match(denied.details, /forbidden/);
    assert.match(denied.details, /RBAC/);
    // Asked again, it stays a clear refusal, and the lookaside keeps running and serving.
    const again = await lookaside.resolve(forbidden, service);
    assert.equal(!again.ok && again.code, 'PERMISSION_DENIED');
    assert.ok(lookaside.running);
    await lookaside.waitForView(allowed, service, readyView(views.get(allowed)!));

    // Granting the namespace later is picked up by the retries (no restart needed).
    await plane.admin.json('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: 'lookaside-scoped-rules' },
      rules: rbac.rules,
    });
    await plane.admin.json('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${forbidden}/rolebindings`, {
      ...binding(forbidden),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lookaside-scoped-rules' },
    });
    await lookaside.waitForView(forbidden, service, readyView(views.get(forbidden)!), { timeoutMs: 45_000 });
  });

  it('keeps serving with list but no watch permission, and retries the watch with growing backoff', async function () {
    const namespace = uniqueName('rbac-nowatch');
    await cluster.createNamespace(namespace);
    const account = 'lookaside-list-only';
    await plane.admin.json('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: account } });
    await plane.admin.json('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
      metadata: { name: account },
      rules: [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list'] }],
    });
    await plane.admin.json('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
      metadata: { name: account },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
    });
    const lookaside = await startLookaside(plane.writeKubeconfig(account, await serviceAccountToken(plane, namespace, account)));
    const service = uniqueName('svc');
    await cluster.createService(namespace, service);
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, [{ ip: podIp(43, 0), ready: true }]));
    await lookaside.waitForView(namespace, service, readyView([addressOf(podIp(43, 0))]));

    await delay(10_000);
    const failures = lookaside.process.logs.filter(
      (line) => line.msg === 'endpointslice watch failed; retrying' && line['namespace'] === namespace,
    );
    const plannedMs = failures.map((line) => Number(line['retryInMs']));
    const atMs = failures.map((line) => Date.parse(String(line['time'])));
    const gapsMs = atMs.slice(1).map((at, i) => at - (atMs[i] ?? 0));
    const seen = `planned delays ${plannedMs.join(', ')} ms; gaps between failures ${gapsMs.join(', ')} ms`;
    // Backoff 0.5 s, 1 s, 2 s, 4 s, … (±20%): a handful of retries in 10 s, neither none nor a tight loop.
    assert.ok(failures.length >= 3 && failures.length <= 6, `${failures.length} failures; ${seen}`);
    assert.equal(await lookaside.metric('lookaside_watch_restarts_total'), failures.length);
    for (let i = 1; i < plannedMs.length; i++) {
      // Doubling with ±20% jitter makes each delay at least 2 × 0.8 / 1.2 = 1.33 times the one before.
      assert.ok((plannedMs[i] ?? 0) >= 1.3 * (plannedMs[i - 1] ?? 0), `the backoff does not grow: ${seen}`);
    }
    for (const [i, gapMs] of gapsMs.entries()) {
      // Each retry really waited its delay (log times have millisecond resolution).
      assert.ok(gapMs >= (plannedMs[i] ?? 0) - 2, `retried before its delay ran out: ${seen}`);
    }
    console.log(`      list without watch permission: ${seen}`);
    assert.match(String(failures[0]?.['err']), /refused to watch endpointslices \(HTTP 403\)/);
    await lookaside.waitForView(namespace, service, readyView([addressOf(podIp(43, 0))]));
  });

  it('runs the lookaside with the environment deploy/base gives it: serves its own namespace, refuses the others', async function () {
    const deployment = named<Deployment>(render('deploy/base'), 'Deployment', 'lookaside');
    const container = deployment.spec.template.spec.containers[0];
    assert.ok(container !== undefined);
    // As in a pod of the granted namespace; the ports are any free ones on loopback here.
    const { LB_PORT: _port, METRICS_PORT: _metricsPort, ...env } = containerEnv(container, { name: 'lookaside-0', namespace: granted, ip: '127.0.0.1' });
    const lookaside = await startLookaside(kubeconfig, env);
    const service = uniqueName('svc');
    await cluster.createService(granted, service);
    await cluster.createSlice(endpointSlice(granted, service, `${service}-a`, [{ ip: podIp(44, 0), ready: true }]));
    await lookaside.waitForView(granted, service, readyView([addressOf(podIp(44, 0))]));

    const refused = await lookaside.resolve(uniqueName('rbac-elsewhere'), service);
    assert.equal(!refused.ok && refused.code, 'PERMISSION_DENIED');
    assert.match(!refused.ok ? refused.details : '', /ALLOWED_NAMESPACES/);
  });

  for (const dir of kustomizations()) {
    it(`passes kubectl apply --dry-run=server --validate=strict -k ${dir}`, async function () {
      const objects = render(dir);
      if (objects.some((object) => object.kind === 'ServiceMonitor')) await installServiceMonitorCrd(plane);
      for (const namespace of new Set(objects.flatMap((object) => object.metadata.namespace ?? []))) await ensureNamespace(plane, namespace);
      const args = ['apply', '--dry-run=server', '--validate=strict', '-k', join(REPO_ROOT, dir)];
      let answer = await plane.kubectl(args);
      // A CRD just created may not be in kubectl's discovery yet.
      for (let attempt = 0; answer.code !== 0 && /no matches for kind/.test(answer.stderr) && attempt < 20; attempt++) {
        await delay(500);
        answer = await plane.kubectl(args);
      }
      assert.equal(answer.code, 0, `${answer.stderr}\n${answer.stdout}`);
      for (const object of objects) {
        assert.match(answer.stdout, new RegExp(`/${object.metadata.name} .*\\(server dry run\\)`, 'i'), `${object.kind} ${object.metadata.name} was not sent`);
      }
    });
  }
});

/**
 * prometheus-operator's ServiceMonitor kind, with no schema of its own: enough
 * for the API server to take the monitoring overlay (its objects' fields are
 * checked against the operator's schema in test/deploy/).
 */
async function installServiceMonitorCrd(plane: ControlPlane): Promise<void> {
  const name = 'servicemonitors.monitoring.coreos.com';
  try {
    await plane.admin.json('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
  await eventually(async () => {
    const crd = await plane.admin.json<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    return crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True') === true ? true : undefined;
  }, 20_000, `CRD ${name} established`);
}
