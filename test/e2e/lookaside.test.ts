import { strict as assert } from 'node:assert';

import { bufListMethods } from '../support/buf-curl.js';
import { GREET_NOT_READY, GREET_READY, OWN_NAMESPACE, PAIR_READY_IPS, STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { callMany, ProcessGroup, tally, type RunningLookaside } from './support/lookaside.js';

/*
 * The built lookaside process on loopback, served from an endpoints file and
 * called through `buf curl`, which learns the schema by server reflection just
 * as an operator's grpcurl would.
 */
describe('lookaside end to end: the APIs', function () {
  const group = new ProcessGroup();
  let lookaside: RunningLookaside;

  before(async function () {
    lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
  });

  after(async function () {
    await group.stopAll();
  });

  describe('reflection', function () {
    it('lists exactly the two Resolve methods, ResolveStream, health Check and Watch, and xDS ADS', async function () {
      const methods = await bufListMethods(lookaside.target);
      assert.deepEqual([...methods].sort(), [
        'envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
        'envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        'grpc.health.v1.Health/Check',
        'grpc.health.v1.Health/Watch',
        'lookaside.Lookaside/Resolve',
        'lookaside.v1.Lookaside/Resolve',
        'lookaside.v1.Lookaside/ResolveStream',
      ]);
    });
  });

  describe('lookaside.v1.Lookaside/Resolve', function () {
    it('round-robins exactly evenly over the ready endpoints and never hands out a not-ready or terminating one', async function () {
      const answers = await callMany(30, () => lookaside.resolve({ service: 'greet', namespace: OWN_NAMESPACE, policy: 'ROUND_ROBIN' }));
      const counts = tally(answers.map((answer) => answer.address));
      assert.deepEqual(
        Object.fromEntries([...counts].sort()),
        Object.fromEntries(GREET_READY.map((endpoint) => [endpoint.address, 10])),
      );
      for (const endpoint of GREET_NOT_READY) assert.equal(counts.get(endpoint.address), undefined);
    });

    it('answers with the address, ip, port, pod, zone, node and the number of ready endpoints', async function () {
      const answers = await callMany(3, () => lookaside.resolve({ service: 'greet', namespace: OWN_NAMESPACE }));
      const byAddress = new Map(answers.map((answer) => [answer.address, answer]));
      assert.equal(byAddress.size, 3, 'three calls in a row reach three different pods');
      for (const endpoint of GREET_READY) {
        const answer = byAddress.get(endpoint.address);
        assert.ok(answer, `${endpoint.address} was handed out`);
        const [ip = '', port = ''] = endpoint.address.split(':');
        assert.deepEqual(answer, {
          address: endpoint.address,
          ip,
          port: Number(port),
          podName: endpoint.pod,
          zone: endpoint.zone,
          nodeName: endpoint.node,
          readyEndpoints: 3,
        });
      }
    });

    it('formats an IPv6 endpoint as [ip]:port', async function () {
      const answer = await lookaside.resolve({ service: 'ipv6' });
      assert.equal(answer.address, '[fd00::1]:8080');
      assert.equal(answer.ip, 'fd00::1');
      assert.equal(answer.port, 8080);
      assert.equal(answer.podName, 'v6-0');
    });

    it('picks the endpoints of the requested port_name on a Service with several ports', async function () {
      const [metricsPort, grpcPort] = await Promise.all([
        lookaside.resolve({ service: 'multi', port_name: 'metrics' }),
        lookaside.resolve({ service: 'multi', port_name: 'grpc' }),
      ]);
      assert.equal(metricsPort.port, 9090);
      assert.match(metricsPort.address, /^10\.0\.1\.[12]:9090$/);
      assert.equal(metricsPort.readyEndpoints, 2);
      assert.equal(grpcPort.port, 50051);
    });

    it('uses the port named "grpc" when port_name is empty and the Service has several ports', async function () {
      const answer = await lookaside.resolve({ service: 'multi' });
      assert.equal(answer.port, 50051);
    });

    it('takes an empty namespace to mean its own namespace (POD_NAMESPACE), and keeps namespaces apart', async function () {
      const [own, other] = await Promise.all([
        lookaside.resolve({ service: 'greet', namespace: '' }),
        lookaside.resolve({ service: 'greet', namespace: 'default' }),
      ]);
      assert.ok(GREET_READY.some((endpoint) => endpoint.address === own.address), `${own.address} is a ${OWN_NAMESPACE}/greet pod`);
      assert.equal(other.address, '10.1.0.1:50051');
      assert.equal(other.podName, 'other-greet-0');
    });

    it('spreads RANDOM over every ready endpoint and none of the others', async function () {
      const answers = await callMany(20, () => lookaside.resolve({ service: 'pair', policy: 'RANDOM' }));
      const ips = new Set(answers.map((answer) => answer.ip));
      // Missing one of two endpoints in 20 fair draws has a probability of 2^-19.
      assert.deepEqual([...ips].sort(), [...PAIR_READY_IPS]);
      assert.ok(answers.every((answer) => answer.readyEndpoints === 2));
    });
  });

  describe('lookaside.Lookaside/Resolve (the seed API)', function () {
    it('answers ROUNDROBIN with the pod IP only, no port, rotating over the ready pods', async function () {
      const addresses = await callMany(3, () => lookaside.resolveSeed({ service: 'greet', namespace: OWN_NAMESPACE, router: 'ROUNDROBIN' }));
      assert.deepEqual([...addresses].sort(), GREET_READY.map((endpoint) => endpoint.address.split(':')[0]));
    });

    it('defaults to the RANDOM router and answers with ready pods only', async function () {
      const randomCalls = { namespace: OWN_NAMESPACE, service: 'pair', policy: 'random', code: 'OK' };
      const before = (await lookaside.scrape()).value('lookaside_resolve_total', randomCalls) ?? 0;
      const addresses = await callMany(6, () => lookaside.resolveSeed({ service: 'pair' }));
      for (const address of addresses) assert.ok(PAIR_READY_IPS.some((ip) => ip === address), `${address} is a ready pod`);
      // The server counts each Resolve under the policy it applied.
      assert.equal((await lookaside.scrape()).value('lookaside_resolve_total', randomCalls), before + 6);
    });

    it('answers an IPv6 pod with the bare IP', async function () {
      assert.equal(await lookaside.resolveSeed({ service: 'ipv6', router: 'ROUNDROBIN' }), 'fd00::1');
    });

    it('resolves a Service with several ports and none named "grpc", since only the IP is wanted', async function () {
      assert.equal(await lookaside.resolveSeed({ service: 'web' }), '10.0.2.1');
    });
  });

  describe('grpc.health.v1.Health', function () {
    it('reports SERVING for the whole server and for both Lookaside services', async function () {
      const statuses = await Promise.all(
        ['', 'lookaside.v1.Lookaside', 'lookaside.Lookaside'].map((service) => lookaside.healthStatus(service)),
      );
      assert.deepEqual(statuses, ['SERVING', 'SERVING', 'SERVING']);
    });

    it('answers NOT_FOUND for a service it does not know', async function () {
      const result = await lookaside.call('grpc.health.v1.Health/Check', { service: 'greet.v1.GreetService' });
      assert.notEqual(result.exitCode, 0);
      assert.equal(result.body?.['code'], 'not_found');
    });
  });
});
