import type { PolicyName } from './balancing/picker.js';
import type { ServiceSnapshot } from './discovery/types.js';
import { recordCalls } from './load/call-reports.js';
import type { ServiceLoads } from './load/service-loads.js';
import { checkLabel, quoteInput } from './validation.js';
import { checkCallFacts } from './routing/call-facts.js';
import type { RouteSource } from './routing/route-source.js';
import type { RouteTable } from './routing/route-table.js';
import {
  noReadyEndpoint,
  notFound,
  notWatchedFailure,
  routeFailure,
  type ResolveFailed,
  type ResolveOutcome,
  type ResolveQuery,
} from './resolve-outcome.js';
import type { LookupResult, StillLookingUp } from './service-lookup.js';
import type { Acquired, WatchedService, WatchedServices } from './watched-services.js';

export type { ResolveFailed, ResolveFailureReason, ResolveOutcome, ResolveQuery, Resolved } from './resolve-outcome.js';

/** The longest a first Resolve waits for a Service's initial list, whatever its deadline. */
export const FIRST_LIST_WAIT_LIMIT_MS = 10_000;

export interface ResolverOptions {
  readonly services: WatchedServices;
  readonly ownNamespace: string;
  readonly defaultPolicy: PolicyName;
  /** Empty allows every namespace. */
  readonly allowedNamespaces: readonly string[];
  readonly describeMissing: (namespace: string, service: string) => string;
  /** The per-endpoint state of the watched Services, for report-only requests. */
  readonly loads?: ServiceLoads;
  /** The routes (GRPCRoute) attached to Services; none when not given. */
  readonly routes?: RouteSource;
}

/**
 * Answers "which endpoint next?" from memory. Only the first Resolve of a name
 * not watched waits (for its lookup); every later one returns synchronously,
 * including for a name just found missing.
 */
export class Resolver {
  private readonly allowed: ReadonlySet<string>;

  constructor(private readonly options: ResolverOptions) {
    this.allowed = new Set(options.allowedNamespaces);
  }

  /**
   * @param waitLimitMs how long a first Resolve may wait for the initial list
   *   (the call's remaining deadline); capped at FIRST_LIST_WAIT_LIMIT_MS.
   */
  resolve(query: ResolveQuery, waitLimitMs = FIRST_LIST_WAIT_LIMIT_MS): ResolveOutcome | Promise<ResolveOutcome> {
    const namespace = query.namespace === '' ? this.options.ownNamespace : query.namespace;
    const policy = query.policy ?? this.options.defaultPolicy;
    const refused = this.refusal(query, namespace, policy);
    if (refused !== undefined) return refused;
    const waitMs = Math.min(Math.max(0, waitLimitMs), FIRST_LIST_WAIT_LIMIT_MS);
    const routes = this.options.routes?.routesIn(namespace, waitMs);
    if (routes === undefined) return this.resolveService(query, namespace, query.service, policy, waitMs);
    if (routes instanceof Promise) return routes.then((table) => this.follow(table, query, namespace, policy, waitMs));
    return this.follow(routes, query, namespace, policy, waitMs);
  }

  /** Resolves the Service a route sends the call to, or the Service asked for when no route rule matches. */
  private follow(table: RouteTable, query: ResolveQuery, namespace: string, policy: PolicyName, waitMs: number): ResolveOutcome | Promise<ResolveOutcome> {
    const decision = table.forService(namespace, query.service)?.decide({ method: query.method ?? '', headers: query.headers });
    if (decision === undefined) return this.resolveService(query, namespace, query.service, policy, waitMs);
    if (decision.kind === 'no-backend' || decision.backend.problem !== undefined) {
      const why = decision.kind === 'backend' ? `cannot take calls: ${decision.backend.problem?.message ?? ''}` : '';
      return routeFailure(decision, namespace, query.service, policy, why);
    }
    const outcome = this.resolveService(query, namespace, decision.backend.name, policy, waitMs);
    const checked = (settled: ResolveOutcome): ResolveOutcome => {
      if (settled.ok || (settled.reason !== 'not-found' && settled.reason !== 'no-ready-endpoints')) return settled;
      const why = settled.reason === 'not-found' ? 'does not exist (no EndpointSlice)' : 'has no ready endpoint';
      return routeFailure(decision, namespace, settled.service, policy, why, settled.resolveCounts);
    };
    return outcome instanceof Promise ? outcome.then(checked) : checked(outcome);
  }

  private resolveService(query: ResolveQuery, namespace: string, service: string, policy: PolicyName, waitMs: number): ResolveOutcome | Promise<ResolveOutcome> {
    const acquired = this.options.services.acquire({ namespace, name: service });
    if (acquired.kind !== 'looking-up') return this.answerAcquired(acquired, query, namespace, service, policy);
    return acquired.lookup.whenSettled(waitMs).then((settled) => this.answerAcquired(settled, query, namespace, service, policy, waitMs));
  }

  /**
   * Records the calls a report-only request carries, picking nothing. Reports
   * for a Service not watched (or no longer) are dropped: there is no state to
   * update, and no lookup is started for them. Undefined when accepted.
   */
  report(query: ResolveQuery): ResolveFailed | undefined {
    const namespace = query.namespace === '' ? this.options.ownNamespace : query.namespace;
    const refused = this.refusal(query, namespace, query.policy ?? this.options.defaultPolicy);
    if (refused !== undefined) return refused;
    const load = this.options.loads?.get({ namespace, name: query.service });
    if (load !== undefined && query.calls !== undefined) recordCalls(load, query.calls);
    return undefined;
  }

  /** Why a query is refused before any lookup (a field not valid, a namespace not served); undefined when it is not. */
  private refusal(query: ResolveQuery, namespace: string, policy: PolicyName): ResolveFailed | undefined {
    const base = { namespace, service: query.service, policy, resolveCounts: undefined };
    const invalid =
      checkLabel('service', query.service, true) ??
      checkLabel('namespace', query.namespace, false) ??
      checkLabel('port_name', query.portName, false) ??
      checkCallFacts(query.method, query.headers);
    if (invalid !== undefined) return { ...base, ok: false, reason: 'invalid-argument', message: invalid };

    if (this.allowed.size > 0 && !this.allowed.has(namespace)) {
      return {
        ...base,
        ok: false,
        reason: 'permission-denied',
        message: `namespace "${namespace}" is not served by this lookaside; allowed: ${[...this.allowed].join(', ')} (ALLOWED_NAMESPACES)`,
      };
    }
    return undefined;
  }

  private answerAcquired(
    acquired: Exclude<Acquired, { kind: 'looking-up' }> | LookupResult | StillLookingUp,
    query: ResolveQuery,
    namespace: string,
    service: string,
    policy: PolicyName,
    waitedMs = 0,
  ): ResolveOutcome {
    if (acquired.kind === 'watched') return this.answer(acquired.service, query, namespace, service, policy);
    const base = { namespace, service, policy, resolveCounts: undefined };
    return notWatchedFailure(acquired, base, waitedMs, this.options.services, this.options.describeMissing);
  }

  /** `namespace` and `service` are the watched Service's (its key, not read again: one cold object less per call). */
  private answer(watched: WatchedService, query: ResolveQuery, namespace: string, service: string, policy: PolicyName): ResolveOutcome {
    const pickers = watched.pickers;
    const load = pickers.load;
    const calls = query.calls;
    // Reports first: an endpoint they eject is not handed out by this very Resolve.
    if (calls !== undefined && load !== undefined && calls.finished.length > 0) recordCalls(load, calls);
    // A Service with one port, asked by no port name or by its own (nearly every Resolve): the
    // snapshot is not read, one cache miss less on a random one of 1,000 Services.
    const onlyPort = pickers.onlyPort;
    const usual = onlyPort !== undefined && (query.portName === '' || query.portName === onlyPort);
    const port = usual ? onlyPort : this.portOf(watched, query, namespace, service, policy);
    if (typeof port !== 'string') return port;

    const picker = pickers.pickerFor(port, policy);
    if (picker === undefined) return noReadyEndpoint({ namespace, service, policy, resolveCounts: watched.resolveCounts }, watched.snapshot, port);
    const endpoint = picker.pick();
    if (calls?.reportsCall === true && load !== undefined) {
      const endpointLoad = load.endpoint(endpoint.address);
      if (endpointLoad !== undefined) calls.ledger.handOut(endpointLoad);
    }
    // Spelled out rather than `{ ...base, … }`: this runs on every call, and V8
    // builds a spread-then-extended literal on a slow path (µs per call).
    return {
      namespace,
      service,
      policy,
      resolveCounts: watched.resolveCounts,
      ok: true,
      endpoint,
      readyEndpoints: pickers.readyOn(port),
    };
  }

  /** The port a query means on the Service's snapshot, or why it has none to answer from. */
  private portOf(watched: WatchedService, query: ResolveQuery, namespace: string, service: string, policy: PolicyName): string | ResolveFailed {
    const base = { namespace, service, policy, resolveCounts: watched.resolveCounts };
    const snapshot = watched.snapshot;
    // Watched, then all its slices went (the Service was deleted): watched until idle, in case it comes back.
    if (snapshot.sliceCount === 0) return notFound(base, this.options.describeMissing);
    // Scaled to zero: the controller's placeholder slice has neither endpoints nor ports.
    if (snapshot.readyCount === 0 && snapshot.readyByPort.size === 0) return noReadyEndpoint(base, snapshot, '');
    const port = choosePort(snapshot, query.portName, query.anyPort === true);
    if (typeof port !== 'string') return { ...base, ok: false, ...port, message: `${namespace}/${service}: ${port.message}` };
    return port;
  }
}

type PortChoice = string | { reason: 'invalid-argument' | 'no-ready-endpoints'; message: string };

function choosePort(snapshot: ServiceSnapshot, requested: string, anyPort: boolean): PortChoice {
  const ports = snapshot.readyByPort;
  // The usual answers first, without building anything: this runs on every call.
  if (requested !== '' && ports.has(requested)) return requested;
  if (requested === '' && ports.size === 1) return ports.keys().next().value as string;

  const names = [...ports.keys()];
  const listed = names.map((name) => (name === '' ? '(unnamed)' : name)).join(', ');
  if (requested !== '') {
    return {
      reason: 'invalid-argument',
      message: `no port named ${quoteInput(requested)}; the Service's ports are: ${listed || 'none'}`,
    };
  }
  if (names.length === 0) {
    return { reason: 'no-ready-endpoints', message: 'its EndpointSlices declare no ports' };
  }
  if (ports.has('grpc')) return 'grpc';
  if (anyPort) return names.find((name) => (ports.get(name)?.length ?? 0) > 0) ?? (names[0] as string);
  return {
    reason: 'invalid-argument',
    message: `the Service has several ports (${listed}) and none is named "grpc"; set port_name`,
  };
}
