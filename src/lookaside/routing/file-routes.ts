import type { GrpcRoute } from './grpc-route.js';
import { parseGrpcRoute, RouteSpecError } from './grpc-route-spec.js';

/**
 * The endpoints file's `routes`: GRPCRoutes without a cluster, each the
 * route's `namespace` (default `default`) and `name` beside its spec's
 * `parentRefs` and `rules`, as in a GRPCRoute:
 *
 *     routes:
 *       - name: greetserver-canary
 *         parentRefs: [{ name: greetserver }]
 *         rules:
 *           - backendRefs:
 *               - { name: greetserver-v1, weight: 90 }
 *               - { name: greetserver-v2, weight: 10 }
 *
 * The only parents here are Services, so a parentRef's `group` and `kind`
 * default to "" and Service. A route the lookaside would not accept (no
 * Service parent, an unsupported value) is an error in the file, not a
 * route quietly ignored.
 */
export function parseFileRoutes(list: unknown, fail: (message: string) => Error): GrpcRoute[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw fail('routes: must be a list');
  const seen = new Set<string>();
  return list.map((entry: unknown, i) => {
    const where = `routes[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`${where}: must be a mapping`);
    const { namespace = 'default', name, parentRefs, ...spec } = entry as Record<string, unknown>;
    const parents = Array.isArray(parentRefs) ? parentRefs.map((ref: unknown) => (typeof ref === 'object' && ref !== null ? { group: '', kind: 'Service', ...ref } : ref)) : parentRefs;
    let route: GrpcRoute;
    try {
      route = parseGrpcRoute({ metadata: { namespace, name, generation: 1 }, spec: { ...spec, parentRefs: parents } });
    } catch (error) {
      throw error instanceof RouteSpecError ? fail(`${where}: ${error.message.replace(/^(metadata|spec)\./, '')}`) : error;
    }
    const id = `${route.namespace}/${route.name}`;
    if (seen.has(id)) throw fail(`${where}: route ${id} is listed twice`);
    seen.add(id);
    if (route.parents.length === 0) throw fail(`${where}.parentRefs: needs at least one Service in the route's namespace`);
    if (route.unsupported !== undefined) throw fail(`${where}: ${route.unsupported.message}`);
    return route;
  });
}
