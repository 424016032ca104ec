import type { RouteDecision } from './route-table.js';
import type { RouteTable } from './route-table.js';

/** Where routes come from (GRPCRoutes in Kubernetes, the endpoints file's `routes`). */
export interface RouteSource {
  /**
   * The routes of `namespace`'s Services: from memory, or a promise while the
   * namespace's routes are first read (the first ask starts reading them). The
   * promise never rejects, and settles within `waitMs`: routes that cannot be
   * read in time count as none, until they are.
   */
  routesIn(namespace: string, waitMs: number): RouteTable | Promise<RouteTable>;
  /**
   * Calls `listener` after the routes of a namespace changed (undefined: any
   * namespace may have), until the returned function is called.
   */
  onChange?(listener: (namespace: string | undefined) => void): () => void;
  close(): Promise<void>;
}

/** A routed call that cannot go to its backend, told in the route's and the backend's names. */
export function backendUnavailable(decision: RouteDecision, namespace: string, why: string): string {
  if (decision.kind === 'no-backend') return decision.message;
  return `GRPCRoute ${decision.route} sends this call to Service ${namespace}/${decision.backend.name}, which ${why}`;
}
