import type { PolicyName } from './balancing/picker.js';
import type { Endpoint, ServiceSnapshot } from './discovery/types.js';
import type { CallReports } from './load/call-reports.js';
import type { ResolveCounts } from './metrics.js';
import { backendUnavailable } from './routing/route-source.js';
import type { RouteDecision } from './routing/route-table.js';
import type { LookupResult, StillLookingUp } from './service-lookup.js';
import type { Acquired, WatchedServices } from './watched-services.js';

// What the Resolver is asked and what it answers: the query, the outcome, and
// each way it can fail, with the message the caller reads (no gRPC here).

export interface ResolveQuery {
  readonly service: string;
  /** Empty means the lookaside's own namespace. */
  readonly namespace: string;
  /** Undefined means the configured default. */
  readonly policy: PolicyName | undefined;
  /** Empty means the Service's only port, or the one named `grpc`. */
  readonly portName: string;
  /** Any port will do (the caller wants only the IP), so several ports are not an error. */
  readonly anyPort?: boolean;
  /** What the client reports of its calls, and whether it will report the one this answer is for. */
  readonly calls?: CallReports;
  /** The call's full method name (`/package.Service/Method`), for routes; empty or undefined when not told. */
  readonly method?: string;
  /** The call's headers that routes may match on (lowercase names). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type ResolveFailureReason =
  | 'invalid-argument'
  | 'permission-denied'
  | 'too-many-services'
  | 'lookups-busy'
  | 'not-found'
  | 'no-ready-endpoints'
  | 'route-backend-unavailable'
  | 'discovery-unavailable'
  | 'discovery-forbidden';

export interface OutcomeBase {
  readonly namespace: string;
  readonly service: string;
  readonly policy: PolicyName;
  /**
   * Where the answer is counted (lookaside_resolve_total): the watched
   * Service's own series; undefined when no watched Service was reached
   * (counted under UNWATCHED_LABEL, keeping label sets bounded).
   */
  readonly resolveCounts: ResolveCounts | undefined;
}

export interface Resolved extends OutcomeBase {
  readonly ok: true;
  readonly endpoint: Endpoint;
  /** Ready endpoints the choice was made from. */
  readonly readyEndpoints: number;
}

export interface ResolveFailed extends OutcomeBase {
  readonly ok: false;
  readonly reason: ResolveFailureReason;
  readonly message: string;
}

export type ResolveOutcome = Resolved | ResolveFailed;

/** How acquiring a Service that is not watched ended, once no longer looking it up. */
export type NotWatched = Exclude<Acquired | LookupResult | StillLookingUp, { kind: 'watched' } | { kind: 'looking-up' }>;

/** Why a Service that is not watched has no answer; `waitedMs` is how long its lookup was waited for. */
export function notWatchedFailure(
  acquired: NotWatched,
  base: OutcomeBase,
  waitedMs: number,
  services: Pick<WatchedServices, 'maxServices'>,
  describeMissing: (namespace: string, service: string) => string,
): ResolveFailed {
  const { namespace, service } = base;
  switch (acquired.kind) {
    case 'missing':
      return notFound(base, describeMissing);
    case 'failed':
      return {
        ...base,
        ok: false,
        reason: acquired.failure.kind === 'forbidden' ? 'discovery-forbidden' : 'discovery-unavailable',
        message: `cannot read endpoints of ${namespace}/${service}: ${acquired.failure.message}`,
      };
    case 'pending':
      return {
        ...base,
        ok: false,
        reason: 'discovery-unavailable',
        message: `endpoints of ${namespace}/${service} are not known yet: no answer from discovery within ${waitedMs} ms; still trying`,
      };
    case 'full':
      return {
        ...base,
        ok: false,
        reason: 'too-many-services',
        message: `already watching the maximum of ${services.maxServices} services (MAX_SERVICES); ${namespace}/${service} cannot be added until others go idle`,
      };
    case 'busy':
      return {
        ...base,
        ok: false,
        reason: 'lookups-busy',
        message: `cannot look up ${namespace}/${service} now: ${acquired.limit}, to spare the API server floods of unknown names; retry shortly`,
      };
  }
}

/** Spelled out, not spread from `base`: a flood of made-up names all end here (see `Resolver.answer`). */
export function notFound(base: OutcomeBase, describeMissing: (namespace: string, service: string) => string): ResolveFailed {
  const { namespace, service, policy, resolveCounts } = base;
  return {
    namespace,
    service,
    policy,
    resolveCounts,
    ok: false,
    reason: 'not-found',
    message: `no endpoints known for Service ${namespace}/${service}: ${describeMissing(namespace, service)}`,
  };
}

export function routeFailure(
  decision: RouteDecision,
  namespace: string,
  service: string,
  policy: PolicyName,
  why: string,
  resolveCounts?: ResolveCounts,
): ResolveFailed {
  const message = backendUnavailable(decision, namespace, why);
  return { namespace, service, policy, resolveCounts, ok: false, reason: 'route-backend-unavailable', message };
}

export function noReadyEndpoint(base: OutcomeBase, snapshot: ServiceSnapshot, port: string): ResolveFailed {
  return {
    ...base,
    ok: false,
    reason: 'no-ready-endpoints',
    message:
      `Service ${base.namespace}/${base.service} has no ready endpoint` +
      `${port === '' ? '' : ` on port "${port}"`} ` +
      `(${snapshot.sliceCount} EndpointSlice(s), ${snapshot.notReadyCount} endpoint(s) not ready or terminating)`,
  };
}
