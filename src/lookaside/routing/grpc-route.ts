/**
 * A Gateway API GRPCRoute (gateway.networking.k8s.io/v1) as the lookaside
 * uses it: attached to Services (GAMMA), matching calls by method and
 * headers, splitting them between backend Services by weight. Nothing here
 * knows where a route came from (a Kubernetes object, the endpoints file).
 */

/** `gateway.networking.k8s.io/v1` Exact method match; '' means any. */
export interface MethodMatch {
  /** The gRPC service, `package.Service`. */
  readonly service: string;
  readonly method: string;
}

/** An Exact header match; `name` in lowercase. */
export interface HeaderMatch {
  readonly name: string;
  readonly value: string;
}

/** All of its conditions must hold; a rule with no match entry matches every call. */
export interface CallMatch {
  readonly method: MethodMatch | undefined;
  readonly headers: readonly HeaderMatch[];
}

/** Why a backendRef cannot take calls, in the spec's ResolvedRefs reasons. */
export type BackendProblemReason = 'InvalidKind' | 'RefNotPermitted' | 'BackendNotFound';

export interface BackendProblem {
  readonly reason: BackendProblemReason;
  readonly message: string;
}

export interface BackendRef {
  /** A Service in the route's namespace. */
  readonly name: string;
  /** 0 takes no calls. */
  readonly weight: number;
  /** Set when the ref can never take calls (another kind, another namespace). */
  readonly problem: BackendProblem | undefined;
}

export interface RouteRule {
  readonly matches: readonly CallMatch[];
  readonly backends: readonly BackendRef[];
}

/** Why a route is not accepted (status Accepted=False, reason UnsupportedValue). */
export interface Unsupported {
  readonly reason: 'UnsupportedValue';
  readonly message: string;
}

/** A parentRef naming a Service (group "", kind Service) in the route's namespace. */
export interface ParentService {
  readonly name: string;
  /** The Service port it names, if any (the route applies to every port: see README). */
  readonly port: number | undefined;
}

export interface GrpcRoute {
  readonly namespace: string;
  readonly name: string;
  /** metadata.generation, written back as observedGeneration. */
  readonly generation: number;
  /** metadata.creationTimestamp (RFC 3339); older routes win ties between routes. */
  readonly createdAt: string;
  /** The Services (in the route's namespace) it is attached to. */
  readonly parents: readonly ParentService[];
  readonly rules: readonly RouteRule[];
  /** Set when the route uses something the lookaside cannot honour: it is then not used at all. */
  readonly unsupported: Unsupported | undefined;
}

export function routeId(route: Pick<GrpcRoute, 'namespace' | 'name'>): string {
  return `${route.namespace}/${route.name}`;
}

/** Whether the route sends calls anywhere: accepted, and attached to at least one Service. */
export function isActive(route: GrpcRoute): boolean {
  return route.unsupported === undefined && route.parents.length > 0;
}
