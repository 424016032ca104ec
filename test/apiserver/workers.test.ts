import assert from 'node:assert/strict';

import { ApiProxy } from '../support/api-proxy.js';
import type { ControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/process.js';
import { ResolveConnections } from '../support/resolve-connections.js';
import { controlPlaneFor } from './fixture.js';
import { LookasideUnderTest } from './lookaside.js';
import { addressOf, Cluster, endpointSlice, podIp, uniqueName } from './objects.js';

describe('lookaside on a real kube-apiserver: LB_WORKERS=2', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let proxy: ApiProxy;
  let lookaside: LookasideUnderTest | undefined;
  let connections: ResolveConnections | undefined;

  before(async function () {
    plane = await controlPlaneFor(this);
    proxy = await ApiProxy.start(plane.apiserver.server, plane.apiserver.caCertificate());
  });

  after(async function () {
    connections?.close();
    await lookaside?.stop();
    await proxy?.close();
  });

  it('watches each namespace once in the primary, and every worker answers from it and follows a change', async function () {
    const cluster = new Cluster(plane.admin);
    const namespace = uniqueName('workers');
    await cluster.createNamespace(namespace);
    const services = [uniqueName('svc'), uniqueName('svc')];
    for (const [index, service] of services.entries()) {
      await cluster.createService(namespace, service);
      await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, [0, 1].map((n) => ({ ip: podIp(40 + index, n), ready: true }))));
    }
    // GRPC_ROUTES=off: the only watches are the EndpointSlice ones.
    lookaside = await LookasideUnderTest.start(plane.writeKubeconfig('workers-via-proxy', plane.adminToken, proxy.url), { LB_WORKERS: '2', GRPC_ROUTES: 'off' });
    connections = new ResolveConnections(lookaside.target, 6);
    const open = connections;
    const everyConnection = (service: string) => Promise.all(Array.from({ length: open.size }, (_, index) => open.resolve(index, { service, namespace })));
    for (const service of services) {
      const answers = await everyConnection(service);
      assert.ok(answers.every((answer) => answer.ok), JSON.stringify(answers));
    }
    const page = await (await fetch(`http://127.0.0.1:${lookaside.metricsPort}/metrics`)).text();
    for (const worker of ['0', '1']) assert.match(page, new RegExp(`lookaside_resolve_total\\{[^}]*code="OK"[^}]*worker="${worker}"`), `worker ${worker} answered`);
    assert.equal(proxy.openWatches, 1, 'one watch for the namespace, two Services, two workers');

    const moved = addressOf(podIp(49, 9));
    await cluster.replaceSlice(endpointSlice(namespace, services[0] as string, `${services[0]}-a`, [{ ip: podIp(49, 9), ready: true }]));
    await eventually(async () => ((await everyConnection(services[0] as string)).every((answer) => answer.ok && answer.address === moved) ? true : undefined), 20_000, 'the change in every worker');
    assert.equal(proxy.openWatches, 1);
  });
});
