import type { GrpcRoute } from '../../../src/lookaside/routing/grpc-route.js';
import { parseGrpcRoute } from '../../../src/lookaside/routing/grpc-route-spec.js';

/** A GRPCRoute in namespace `default` attached to Service `greet`, as the API server would give it. */
export function route(name: string, rules: unknown[], extra: { createdAt?: string; parents?: unknown[]; generation?: number } = {}): GrpcRoute {
  return parseGrpcRoute({
    metadata: { namespace: 'default', name, generation: extra.generation ?? 1, creationTimestamp: extra.createdAt ?? '2026-01-01T00:00:00Z' },
    spec: { parentRefs: extra.parents ?? [{ group: '', kind: 'Service', name: 'greet' }], rules },
  });
}

/** A backendRef to a Service of the route's namespace. */
export function backend(name: string, weight?: number): Record<string, unknown> {
  return weight === undefined ? { name, port: 50051 } : { name, port: 50051, weight };
}
