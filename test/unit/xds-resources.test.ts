import assert from 'node:assert/strict';

import { mergeSlices, type EndpointInput } from '../../src/lookaside/discovery/slices.js';
import type { Endpoint } from '../../src/lookaside/discovery/types.js';
import { parseXdsName, type XdsTarget } from '../../src/lookaside/xds/xds-names.js';
import { HTTP_CONNECTION_MANAGER_URL, loadXdsProtos, XDS_TYPES, type XdsType } from '../../src/lookaside/xds/xds-protos.js';
import { buildResource, endpointsOf } from '../../src/lookaside/xds/xds-resources.js';
import { endpoint, slice, sliceEndpoint } from '../support/endpoints.js';
import { grpcJsVerdict } from '../support/xds-validators.js';

const protos = loadXdsProtos();

function targetOf(name: string): XdsTarget {
  const parsed = parseXdsName(name, new Set());
  assert.ok(parsed.ok);
  return parsed.target;
}


function zoned(n: number, zone: string): Endpoint {
  return { ...endpoint(n, 50051), zone };
}

describe('xDS resources', () => {
  const target = targetOf('greet.prod:50051');

  it('builds the four resources so that grpc-js-xds accepts each, under the names the client asked for', () => {
    const endpoints = [zoned(1, 'a'), zoned(2, 'a'), zoned(3, 'b')];
    const names: Record<XdsType, string> = {
      listener: 'greet.prod:50051',
      route: target.canonical,
      cluster: target.canonical,
      endpoint: target.canonical,
    };
    for (const type of XDS_TYPES) {
      const verdict = grpcJsVerdict(type, buildResource(protos, type, names[type], target, endpoints));
      assert.equal(verdict.error, undefined, `${type}: ${verdict.error}`);
      assert.equal(verdict.name, names[type]);
    }
  });

  it('is checked by a validator that refuses a Listener whose last filter is not the router', () => {
    // The harness can fail: the same HttpConnectionManager ending with another filter is refused.
    const hcm = protos.encode('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
      rds: { config_source: { ads: {} }, route_config_name: target.canonical },
      http_filters: [{ name: 'not-a-router', typed_config: { type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) } }],
    });
    const listener = protos.encode('envoy.config.listener.v3.Listener', {
      name: 'greet.prod:50051',
      api_listener: { api_listener: { type_url: HTTP_CONNECTION_MANAGER_URL, value: hcm } },
    });
    assert.match(grpcJsVerdict('listener', listener).error ?? '', /validation failed/);
  });

  it('points the Listener at its RouteConfiguration by RDS over ADS, ending with the router filter', () => {
    const listener = protos.decode('envoy.config.listener.v3.Listener', buildResource(protos, 'listener', 'greet.prod.svc:50051', target, []));
    const apiListener = (listener['api_listener'] as { api_listener: { type_url: string; value: Uint8Array } }).api_listener;
    assert.equal(apiListener.type_url, HTTP_CONNECTION_MANAGER_URL);
    const hcm = protos.decode('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', apiListener.value);
    assert.deepEqual(hcm['rds'], { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'greet.prod.svc.cluster.local:50051' });
    const filters = hcm['http_filters'] as Array<{ name: string; typed_config: { type_url: string } }>;
    assert.equal(filters.at(-1)?.name, 'envoy.filters.http.router');
    assert.equal(filters.at(-1)?.typed_config.type_url, 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
  });

  it('routes every path of every domain to one EDS cluster over ADS, round robin', () => {
    const route = protos.decode('envoy.config.route.v3.RouteConfiguration', buildResource(protos, 'route', target.canonical, target, []));
    assert.deepEqual(route['virtual_hosts'], [
      { name: target.canonical, domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster: target.canonical } }] },
    ]);
    const cluster = protos.decode('envoy.config.cluster.v3.Cluster', buildResource(protos, 'cluster', target.canonical, target, []));
    assert.equal(cluster['type'], 'EDS');
    assert.equal(cluster['lb_policy'], 'ROUND_ROBIN');
    assert.deepEqual(cluster['eds_cluster_config'], { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: target.canonical });
  });

  it('groups endpoints into one locality per zone weighted by its endpoint count, every endpoint HEALTHY by IP', () => {
    const endpoints = [zoned(1, 'zone-b'), zoned(2, 'zone-a'), zoned(3, 'zone-b'), zoned(4, 'zone-b'), { ...endpoint(5, 50051), ip: 'fd00::5', address: '[fd00::5]:50051' }];
    const assignment = protos.decode(
      'envoy.config.endpoint.v3.ClusterLoadAssignment',
      buildResource(protos, 'endpoint', target.canonical, target, endpoints),
    );
    const localities = assignment['endpoints'] as Array<{
      locality: { zone?: string };
      load_balancing_weight: { value: number };
      lb_endpoints: Array<{ health_status: string; endpoint: { address: { socket_address: { address: string; port_value: number } } } }>;
    }>;
    assert.deepEqual(
      localities.map((locality) => [locality.locality.zone ?? '', locality.load_balancing_weight.value, locality.lb_endpoints.map((lb) => lb.endpoint.address.socket_address.address)]),
      [
        ['', 1, ['fd00::5']],
        ['zone-a', 1, ['10.0.0.2']],
        ['zone-b', 3, ['10.0.0.1', '10.0.0.3', '10.0.0.4']],
      ],
    );
    for (const locality of localities) {
      for (const lb of locality.lb_endpoints) {
        assert.equal(lb.health_status, 'HEALTHY');
        assert.equal(lb.endpoint.address.socket_address.port_value, 50051);
      }
    }
  });

  it('sends an empty assignment, which grpc-js accepts, when nothing is ready', () => {
    const value = buildResource(protos, 'endpoint', target.canonical, target, []);
    assert.equal(grpcJsVerdict('endpoint', value).error, undefined);
    assert.deepEqual(protos.decode('envoy.config.endpoint.v3.ClusterLoadAssignment', value), { cluster_name: target.canonical });
  });
});

describe('xDS port rule (EndpointSlice ports)', () => {
  const byNumber = (number: number) => ({ kind: 'number', number }) as const;
  const byName = (name: string) => ({ kind: 'name', name }) as const;
  const addresses = (result: ReturnType<typeof endpointsOf>): string[] => {
    assert.ok(result.ok, result.ok ? '' : result.problem);
    return result.endpoints.map((e) => e.address).sort();
  };

  it('matches a number against the slice port numbers, bringing every endpoint of that port name', () => {
    // A named target port on other numbers on other pods (and the file source, one port per entry) stays one port.
    const snapshot = mergeSlices([
      slice([sliceEndpoint(1)], [{ name: 'grpc', port: 50051 }, { name: 'metrics', port: 9090 }]),
      slice([sliceEndpoint(2)], [{ name: 'grpc', port: 50052 }, { name: 'metrics', port: 9090 }]),
    ]);
    assert.deepEqual(addresses(endpointsOf(snapshot, byNumber(50051))), ['10.0.0.1:50051', '10.0.0.2:50052']);
    assert.deepEqual(addresses(endpointsOf(snapshot, byNumber(9090))), ['10.0.0.1:9090', '10.0.0.2:9090']);
    assert.deepEqual(addresses(endpointsOf(snapshot, byName('metrics'))), ['10.0.0.1:9090', '10.0.0.2:9090']);
  });

  it('says a port is missing when no slice has it, naming the ports there are', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1)])]);
    const missing = endpointsOf(snapshot, byNumber(80));
    assert.ok(!missing.ok);
    assert.match(missing.problem, /no port 80; its EndpointSlice ports: grpc 50051/);
    assert.ok(!endpointsOf(snapshot, byName('http')).ok);
  });

  it('keeps the port, empty, while nothing behind it is ready or after a scale to zero', () => {
    const notReady: EndpointInput['conditions'] = { ready: false };
    assert.deepEqual(addresses(endpointsOf(mergeSlices([slice([sliceEndpoint(1, notReady)])]), byNumber(50051))), []);
    assert.deepEqual(addresses(endpointsOf(mergeSlices([slice([], [])]), byNumber(50051))), []);
  });

  it('has nothing for a Service with no slices', () => {
    const result = endpointsOf(mergeSlices([]), byNumber(50051));
    assert.ok(!result.ok);
    assert.match(result.problem, /no EndpointSlices/);
  });
});
