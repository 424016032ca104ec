import { isActive, routeId, type BackendRef, type CallMatch, type GrpcRoute, type RouteRule } from './grpc-route.js';
import { WeightedChooser } from './weighted-chooser.js';

/** Where a routed call goes: a backend (which may be unusable), or nowhere. */
export type RouteDecision =
  | { readonly kind: 'backend'; readonly route: string; readonly backend: BackendRef }
  | { readonly kind: 'no-backend'; readonly route: string; readonly message: string };

/** The call as a route sees it. */
export interface CallFacts {
  /** `/package.Service/Method`, or '' when the client did not say. */
  readonly method: string;
  readonly headers: Readonly<Record<string, string>> | undefined;
}

/** One match of one rule, with what ranks it among every match of a Service's routes. */
interface Candidate {
  readonly match: CallMatch;
  readonly backends: readonly BackendRef[];
  readonly decide: () => RouteDecision;
  readonly serviceChars: number;
  readonly methodChars: number;
  readonly headerCount: number;
  readonly createdAt: string;
  readonly route: string;
  readonly order: number;
}

/**
 * Every rule of every route attached to one Service, in the spec's order of
 * precedence: the longest matching gRPC service name, then method name, then
 * the most header matches; then the oldest route, then by namespace/name;
 * within a route, rule order. The first candidate that matches a call wins.
 * Each rule keeps one weighted chooser for all its matches, so its split is
 * exact over every call it takes.
 */
export class ServiceRoutes {
  private readonly matchesMethod: boolean;

  constructor(private readonly candidates: readonly Candidate[]) {
    this.matchesMethod = candidates.some((candidate) => candidate.match.method !== undefined);
  }

  /** Every match of every rule, in the order they are tried (for xDS, whose clients try routes in order too). */
  inOrder(): readonly { readonly match: CallMatch; readonly backends: readonly BackendRef[] }[] {
    return this.candidates;
  }

  /** undefined when no rule matches: the call goes to the Service's own endpoints. */
  decide(call: CallFacts): RouteDecision | undefined {
    const [service, method] = this.matchesMethod ? splitMethod(call.method) : ['', ''];
    for (const candidate of this.candidates) {
      if (matches(candidate.match, service, method, call.headers)) return candidate.decide();
    }
    return undefined;
  }
}

/** The routes of a set of namespaces, by the Service they are attached to. Immutable: a change builds a new table. */
export class RouteTable {
  static readonly EMPTY = new RouteTable([]);
  private readonly byService = new Map<string, ServiceRoutes>();

  constructor(readonly routes: readonly GrpcRoute[]) {
    const candidates = new Map<string, Candidate[]>();
    let order = 0;
    for (const route of routes) {
      if (!isActive(route)) continue;
      const id = routeId(route);
      const ruleCandidates = route.rules.flatMap((rule) => candidatesOf(rule, route, id, () => order++));
      for (const parent of new Set(route.parents.map((service) => service.name))) {
        const key = `${route.namespace}/${parent}`;
        const list = candidates.get(key) ?? [];
        list.push(...ruleCandidates);
        candidates.set(key, list);
      }
    }
    for (const [key, list] of candidates) this.byService.set(key, new ServiceRoutes(list.sort(byPrecedence)));
  }

  /** The routes attached to a Service; undefined when it has none. */
  forService(namespace: string, name: string): ServiceRoutes | undefined {
    return this.byService.size === 0 ? undefined : this.byService.get(`${namespace}/${name}`);
  }
}

function candidatesOf(rule: RouteRule, route: GrpcRoute, id: string, nextOrder: () => number): Candidate[] {
  const decide = decider(rule, id);
  // The spec: a rule without matches matches every call.
  const matches: readonly CallMatch[] = rule.matches.length === 0 ? [{ method: undefined, headers: [] }] : rule.matches;
  return matches.map((match) => ({
    match,
    backends: rule.backends,
    decide,
    serviceChars: match.method?.service.length ?? 0,
    methodChars: match.method?.method.length ?? 0,
    headerCount: match.headers.length,
    createdAt: route.createdAt,
    route: id,
    order: nextOrder(),
  }));
}

function decider(rule: RouteRule, route: string): () => RouteDecision {
  const weighted = rule.backends.filter((backend) => backend.weight > 0).map((backend) => ({ choice: backend, weight: backend.weight }));
  if (weighted.length === 0) {
    const message =
      rule.backends.length === 0
        ? `GRPCRoute ${route} has a matching rule with no backendRefs`
        : `GRPCRoute ${route} has a matching rule whose backendRefs all have weight 0`;
    const decision: RouteDecision = { kind: 'no-backend', route, message };
    return () => decision;
  }
  const chooser = new WeightedChooser(weighted);
  return () => ({ kind: 'backend', route, backend: chooser.next() });
}

function byPrecedence(a: Candidate, b: Candidate): number {
  return (
    b.serviceChars - a.serviceChars ||
    b.methodChars - a.methodChars ||
    b.headerCount - a.headerCount ||
    compareText(a.createdAt, b.createdAt) ||
    compareText(a.route, b.route) ||
    a.order - b.order
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function matches(match: CallMatch, service: string, method: string, headers: Readonly<Record<string, string>> | undefined): boolean {
  const wanted = match.method;
  if (wanted !== undefined) {
    if (wanted.service !== '' && wanted.service !== service) return false;
    if (wanted.method !== '' && wanted.method !== method) return false;
  }
  for (const header of match.headers) {
    if (headers === undefined || !Object.hasOwn(headers, header.name) || headers[header.name] !== header.value) return false;
  }
  return true;
}

/** `/package.Service/Method` → [`package.Service`, `Method`]; ['', ''] for anything else. */
function splitMethod(fullName: string): readonly [string, string] {
  const slash = fullName.lastIndexOf('/');
  if (slash <= 1 || fullName[0] !== '/') return ['', ''];
  return [fullName.slice(1, slash), fullName.slice(slash + 1)];
}
