import type { CallMatch } from '../routing/grpc-route.js';
import type { ServiceRoutes } from '../routing/route-table.js';
import { canonicalName, type XdsTarget } from './xds-names.js';

/**
 * A Service's GRPCRoutes as xDS routes (envoy.config.route.v3.Route), in the
 * order the lookaside tries them, so a stock gRPC client splits and matches
 * as Resolve does: a method match becomes the path (`/service/method`, a
 * `/service/` prefix, or a regex for a method of any service), header
 * matches exact string matches, and backendRefs weighted_clusters named as
 * the backends' own clusters on the same port. A backend that cannot take
 * calls (missing, of another kind) still gets its share: its cluster does not
 * exist, so the client fails those calls with UNAVAILABLE, as the spec asks.
 * A rule with no backend of weight > 0 is left out (xDS has no route that
 * fails calls that every client supports).
 */
export function routedRoutes(routes: ServiceRoutes, target: XdsTarget): Record<string, unknown>[] {
  const routed: Record<string, unknown>[] = [];
  for (const { match, backends } of routes.inOrder()) {
    const clusters = backends
      .filter((backend) => backend.weight > 0)
      .map((backend) => ({ name: clusterName(target, backend.name, backend.problem === undefined), weight: backend.weight }));
    if (clusters.length === 0) continue;
    const action =
      clusters.length === 1
        ? { cluster: clusters[0]?.name }
        : { weighted_clusters: { clusters: clusters.map(({ name, weight }) => ({ name, weight: { value: weight } })) } };
    routed.push({ match: routeMatch(match), route: action });
  }
  return routed;
}

/** The backend's own cluster, or (for a backend that can never be one) a name no cluster has. */
function clusterName(target: XdsTarget, backend: string, valid: boolean): string {
  const name = canonicalName({ namespace: target.key.namespace, name: backend }, target.port);
  return valid ? name : `invalid-backend/${name}`;
}

function routeMatch(match: CallMatch): Record<string, unknown> {
  const headers = match.headers.map((header) => ({ name: header.name, string_match: { exact: header.value } }));
  const method = match.method;
  if (method === undefined) return { prefix: '', headers };
  if (method.service !== '' && method.method !== '') return { path: `/${method.service}/${method.method}`, headers };
  if (method.service !== '') return { prefix: `/${method.service}/`, headers };
  return { safe_regex: { regex: `/[^/]+/${escapeRegex(method.method)}` }, headers };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
