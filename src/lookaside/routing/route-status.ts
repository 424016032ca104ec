import type { GrpcRoute } from './grpc-route.js';
import type { RouteCondition, RouteObject, RouteParentStatus } from './route-objects.js';

/** The lookaside's name in a GRPCRoute's status.parents. */
export const CONTROLLER_NAME = 'lookaside.dev/grpcroute-controller';

/** Whether a Service has EndpointSlices: true, false, or undefined while that cannot be told. */
export type ServiceExists = (service: string) => boolean | undefined;

type Verdict = Pick<RouteCondition, 'status' | 'reason' | 'message'>;

/**
 * The `status.parents` a route should have: every other controller's entries
 * as they are, then one of the lookaside's per Service parent with conditions
 * Accepted and ResolvedRefs (reasons from the spec), stamped with the route's
 * generation. A condition keeps its lastTransitionTime while its status stays.
 * Undefined when the status already says all this (nothing to write), or
 * when it cannot be told yet (a backend's existence is unknown).
 */
export function desiredStatusParents(object: RouteObject, exists: ServiceExists, nowIso: string): RouteParentStatus[] | undefined {
  const route = object.route;
  if (route === undefined || route.parents.length === 0) return undefined;
  const resolved = resolvedRefs(route, exists);
  if (resolved === undefined) return undefined;
  const accepted: Verdict =
    route.unsupported === undefined
      ? { status: 'True', reason: 'Accepted', message: 'attached to the Service; calls resolved through the lookaside follow it' }
      : { status: 'False', reason: route.unsupported.reason, message: route.unsupported.message };
  const others = object.statusParents.filter((entry) => entry.controllerName !== CONTROLLER_NAME);
  const previous = object.statusParents.filter((entry) => entry.controllerName === CONTROLLER_NAME);
  const ours = route.parents.map((parent): RouteParentStatus => {
    const parentRef: Record<string, unknown> = { group: '', kind: 'Service', name: parent.name };
    if (parent.port !== undefined) parentRef['port'] = parent.port;
    const before = previous.find((entry) => sameRef(entry.parentRef, parentRef))?.conditions ?? [];
    return {
      parentRef,
      controllerName: CONTROLLER_NAME,
      conditions: [condition('Accepted', accepted, route, before, nowIso), condition('ResolvedRefs', resolved, route, before, nowIso)],
    };
  });
  if (previous.length === ours.length && ours.every((entry, i) => sameEntry(entry, previous[i]))) return undefined;
  return [...others, ...ours];
}

function resolvedRefs(route: GrpcRoute, exists: ServiceExists): Verdict | undefined {
  for (const rule of route.rules) {
    for (const backend of rule.backends) {
      if (backend.problem !== undefined) return { status: 'False', reason: backend.problem.reason, message: backend.problem.message };
    }
  }
  const names = [...new Set(route.rules.flatMap((rule) => rule.backends.map((backend) => backend.name)))];
  const known = names.map((name) => [name, exists(name)] as const);
  if (known.some(([, found]) => found === undefined)) return undefined;
  const missing = known.filter(([, found]) => found === false).map(([name]) => `${route.namespace}/${name}`);
  if (missing.length > 0) {
    return { status: 'False', reason: 'BackendNotFound', message: `no EndpointSlice for Service ${missing.join(', ')}: calls sent there fail with UNAVAILABLE` };
  }
  return { status: 'True', reason: 'ResolvedRefs', message: 'every backendRef is a Service of the route\'s namespace' };
}

function condition(type: string, verdict: Verdict, route: GrpcRoute, before: readonly RouteCondition[], nowIso: string): RouteCondition {
  const old = before.find((entry) => entry.type === type);
  const lastTransitionTime = old !== undefined && old.status === verdict.status ? old.lastTransitionTime : nowIso;
  return { type, ...verdict, observedGeneration: route.generation, lastTransitionTime };
}

function sameRef(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const group = (ref: Readonly<Record<string, unknown>>): unknown => ref['group'] ?? 'gateway.networking.k8s.io';
  return group(a) === group(b) && (a['kind'] ?? 'Gateway') === b['kind'] && a['name'] === b['name'] && a['port'] === b['port'];
}

function sameEntry(a: RouteParentStatus, b: RouteParentStatus | undefined): boolean {
  if (b === undefined || !sameRef(a.parentRef, b.parentRef) || a.conditions.length !== b.conditions.length) return false;
  return a.conditions.every((wanted, i) => {
    const held = b.conditions[i];
    return (
      held !== undefined &&
      held.type === wanted.type &&
      held.status === wanted.status &&
      held.reason === wanted.reason &&
      held.message === wanted.message &&
      held.observedGeneration === wanted.observedGeneration
    );
  });
}
