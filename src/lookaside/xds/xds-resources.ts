import type { Endpoint, ServiceSnapshot } from '../discovery/types.js';
import { describePort, type PortRef, type XdsTarget } from './xds-names.js';
import type { ServiceRoutes } from '../routing/route-table.js';
import { routedRoutes } from './xds-routes.js';
import { HTTP_CONNECTION_MANAGER_URL, ROUTER_FILTER_URL, type XdsProtos, type XdsType } from './xds-protos.js';

/**
 * The four resources of one target, as proto messages (field names as in
 * the protos). What they must look like comes from what grpc-js-xds and
 * grpc-go accept (A27, A39): an api_listener whose HttpConnectionManager
 * takes its routes by RDS over ADS and ends with the router filter; one
 * virtual host `*` sending every path to one EDS cluster over ADS with
 * ROUND_ROBIN; IP endpoints grouped into one locality per zone, each locality
 * weighted by its endpoint count (a locality with no weight is dropped).
 */

/** The endpoints behind a target's port, or why there are none to serve. */
export type PortEndpoints =
  | { readonly ok: true; readonly endpoints: readonly Endpoint[] }
  | { readonly ok: false; readonly problem: string };

const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' };
const ROUTER_FILTER_NAME = 'envoy.filters.http.router';

/**
 * The ready endpoints of `port`. A number is matched against the slices'
 * port numbers and brings in every endpoint of the port names that carry it
 * (a named target port can have other numbers on other pods; in an endpoints
 * file every entry has its own); a name is matched against port names. A
 * Service whose slices declare no port at all (scaled to zero) has an empty
 * set, not a missing port.
 */
export function endpointsOf(snapshot: ServiceSnapshot, port: PortRef): PortEndpoints {
  if (snapshot.sliceCount === 0) return { ok: false, problem: 'the Service has no EndpointSlices' };
  if (snapshot.portNumbers.size === 0) return { ok: true, endpoints: [] };
  const names =
    port.kind === 'name'
      ? snapshot.portNumbers.has(port.name)
        ? [port.name]
        : []
      : [...snapshot.portNumbers].filter(([, numbers]) => numbers.includes(port.number)).map(([name]) => name);
  if (names.length === 0) {
    const declared = [...snapshot.portNumbers].map(([name, numbers]) => `${name === '' ? '(unnamed)' : name} ${numbers.join('/')}`);
    return { ok: false, problem: `the Service has no ${describePort(port)}; its EndpointSlice ports: ${declared.join(', ')}` };
  }
  if (names.length === 1) return { ok: true, endpoints: snapshot.readyByPort.get(names[0] as string) ?? [] };
  const byAddress = new Map<string, Endpoint>();
  for (const name of names) for (const endpoint of snapshot.readyByPort.get(name) ?? []) byAddress.set(endpoint.address, endpoint);
  return { ok: true, endpoints: [...byAddress.values()] };
}

/** The message of `type` for `name` (a Listener's name is the client's own; the others are `target.canonical`). */
export function buildResource(
  protos: XdsProtos,
  type: XdsType,
  name: string,
  target: XdsTarget,
  endpoints: readonly Endpoint[],
  routes?: ServiceRoutes,
): Buffer {
  switch (type) {
    case 'listener':
      return protos.encode('envoy.config.listener.v3.Listener', listener(protos, name, target.canonical));
    case 'route':
      return protos.encode('envoy.config.route.v3.RouteConfiguration', routeConfiguration(target.canonical, routes === undefined ? [] : routedRoutes(routes, target)));
    case 'cluster':
      return protos.encode('envoy.config.cluster.v3.Cluster', cluster(target.canonical));
    case 'endpoint':
      return protos.encode('envoy.config.endpoint.v3.ClusterLoadAssignment', loadAssignment(target.canonical, endpoints));
  }
}

function listener(protos: XdsProtos, name: string, routeName: string): Record<string, unknown> {
  const httpConnectionManager = protos.encode('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
    rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeName },
    http_filters: [{ name: ROUTER_FILTER_NAME, typed_config: { type_url: ROUTER_FILTER_URL, value: Buffer.alloc(0) } }],
  });
  return { name, api_listener: { api_listener: { type_url: HTTP_CONNECTION_MANAGER_URL, value: httpConnectionManager } } };
}

/** One virtual host `*`: the Service's routes in order (GRPCRoute), then everything else to its own cluster. */
function routeConfiguration(name: string, routed: readonly Record<string, unknown>[]): Record<string, unknown> {
  return {
    name,
    virtual_hosts: [{ name, domains: ['*'], routes: [...routed, { match: { prefix: '' }, route: { cluster: name } }] }],
  };
}

function cluster(name: string): Record<string, unknown> {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE, service_name: name },
    lb_policy: 'ROUND_ROBIN',
  };
}

function loadAssignment(name: string, endpoints: readonly Endpoint[]): Record<string, unknown> {
  const byZone = new Map<string, Endpoint[]>();
  for (const endpoint of endpoints) {
    const zone = byZone.get(endpoint.zone);
    if (zone === undefined) byZone.set(endpoint.zone, [endpoint]);
    else zone.push(endpoint);
  }
  const localities = [...byZone].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    cluster_name: name,
    endpoints: localities.map(([zone, members]) => ({
      locality: { zone },
      // Weighted by size: grpc-js and grpc-go pick a locality first, then an endpoint in it.
      load_balancing_weight: { value: members.length },
      priority: 0,
      lb_endpoints: members.map((endpoint) => ({
        endpoint: { address: { socket_address: { address: endpoint.ip, port_value: endpoint.port } } },
        health_status: 'HEALTHY',
      })),
    })),
  };
}
