import type { ListedObject, ResourceKind } from '../discovery/kubernetes-api.js';
import type { GrpcRoute } from './grpc-route.js';
import { parseGrpcRoute } from './grpc-route-spec.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const GRPC_ROUTES = 'grpcroutes';

/** One entry of a GRPCRoute's `status.parents`, as the API server holds it. */
export interface RouteParentStatus {
  readonly parentRef: Readonly<Record<string, unknown>>;
  readonly controllerName: string;
  readonly conditions: readonly RouteCondition[];
}

export interface RouteCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
}

/** A GRPCRoute object as a namespace watch keeps it: the route read from its spec, and its status as written. */
export interface RouteObject extends ListedObject {
  readonly namespace: string;
  /** Undefined when the spec could not be read (`error` says why). */
  readonly route: GrpcRoute | undefined;
  readonly error: string | undefined;
  readonly statusParents: readonly RouteParentStatus[];
}

export function routesPath(namespace: string): string {
  return `/apis/${GATEWAY_API_GROUP}/v1/namespaces/${encodeURIComponent(namespace)}/${GRPC_ROUTES}`;
}

/** gateway.networking.k8s.io/v1 GRPCRoutes, for a namespace watch. */
export const GRPC_ROUTE_KIND: ResourceKind<RouteObject> = {
  resource: GRPC_ROUTES,
  collectionPath: routesPath,
  decode: decodeRouteObject,
};

export function decodeRouteObject(object: unknown): RouteObject | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const raw = object as { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown }; status?: { parents?: unknown } };
  const name = raw.metadata?.name;
  const namespace = raw.metadata?.namespace;
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const resourceVersion = String(raw.metadata?.resourceVersion ?? '');
  const statusParents = Array.isArray(raw.status?.parents) ? (raw.status.parents as RouteParentStatus[]) : [];
  try {
    return { name, namespace, resourceVersion, route: parseGrpcRoute(object), error: undefined, statusParents };
  } catch (error) {
    return { name, namespace, resourceVersion, route: undefined, error: (error as Error).message, statusParents };
  }
}
