import { Server, status as Status } from '@grpc/grpc-js';

import { CallGuard } from '../common/grpc-call-guard.js';
import type { StreamRoutes } from '../common/grpc-stream-routes.js';
import { grpcCodeName, type GrpcServerMetrics } from '../common/grpc-metrics.js';
import { addReflection, HealthReporter, loadProtos, serviceConstructor } from '../common/grpc.js';
import type { Logger } from '../common/logging.js';
import type { ResolveReason } from '../common/resolve-reasons.js';
import type { PolicyName } from './balancing/picker.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './config.js';
import type { CallAccounting } from './load/service-loads.js';
import { UNWATCHED_LABEL, type LookasideMetrics } from './metrics.js';
import { resolveRoutes } from './resolve-routes.js';
import { ResolveStreams, type Answer, type Answering } from './resolve-stream.js';
import type { ResolveFailed, ResolveFailureReason, ResolveOutcome, ResolveQuery, Resolver } from './resolver.js';
import { UnaryCalls } from './unary-calls.js';
import { ADS_SERVICE } from './xds/xds-protos.js';
import type { XdsServer } from './xds/xds-server.js';
import type { Request__Output } from '../generated/lookaside/Request.js';
import type { Response__Output } from '../generated/lookaside/Response.js';
import type { ResolveRequest__Output } from '../generated/lookaside/v1/ResolveRequest.js';
import type { ResolveResponse__Output } from '../generated/lookaside/v1/ResolveResponse.js';
import { v1CallReports } from './v1-call-reports.js';

export const V1_SERVICE = 'lookaside.v1.Lookaside';
export const SEED_SERVICE = 'lookaside.Lookaside';
export const PROTO_FILES = ['lookaside/v1/lookaside.proto', 'lookaside/lookaside.proto'] as const;
/** Requests are a few names; anything near this size is not a real client. */
const MAX_REQUEST_BYTES = 16 * 1024;


/** The messages as proto-loader decodes them (src/common/grpc.ts: defaults filled in, enums as names). */
export type V1ResolveRequest = ResolveRequest__Output;
export type V1ResolveResponse = ResolveResponse__Output;
export type SeedResolveRequest = Request__Output;
export type SeedResolveResponse = Response__Output;

/** The status code and the API's reason for each way a Resolve can fail. */
const FAILURES: Readonly<Record<ResolveFailureReason, { readonly code: Status; readonly reason: ResolveReason }>> = {
  'invalid-argument': { code: Status.INVALID_ARGUMENT, reason: 'INVALID_REQUEST' },
  'permission-denied': { code: Status.PERMISSION_DENIED, reason: 'NAMESPACE_NOT_ALLOWED' },
  'too-many-services': { code: Status.RESOURCE_EXHAUSTED, reason: 'TOO_MANY_SERVICES' },
  // Transient: the lookup budget refills within a second, so clients should retry.
  'lookups-busy': { code: Status.UNAVAILABLE, reason: 'LOOKUPS_BUSY' },
  'not-found': { code: Status.NOT_FOUND, reason: 'SERVICE_NOT_FOUND' },
  'no-ready-endpoints': { code: Status.UNAVAILABLE, reason: 'NO_READY_ENDPOINTS' },
  'route-backend-unavailable': { code: Status.UNAVAILABLE, reason: 'ROUTE_BACKEND_UNAVAILABLE' },
  'discovery-unavailable': { code: Status.UNAVAILABLE, reason: 'DISCOVERY_UNAVAILABLE' },
  'discovery-forbidden': { code: Status.PERMISSION_DENIED, reason: 'DISCOVERY_FORBIDDEN' },
};

/** lookaside.v1 policy enum (by name, or by number when unknown to the proto). */
const V1_POLICIES: Readonly<Record<string, PolicyName | undefined>> = {
  POLICY_UNSPECIFIED: undefined,
  ROUND_ROBIN: 'round_robin',
  RANDOM: 'random',
  LEAST_REQUEST: 'least_request',
  WEIGHTED_ROUND_ROBIN: 'weighted_round_robin',
};

/** What a report-only request is answered with: OK, and nothing picked. */
const NOTHING_PICKED: V1ResolveResponse = { address: '', ip: '', port: 0, pod_name: '', zone: '', node_name: '', ready_endpoints: 0 };

/** The seed API's RouterType: RANDOM = 0 (its default), ROUNDROBIN = 1. */
const SEED_POLICIES: Readonly<Record<string, PolicyName>> = {
  RANDOM: 'random',
  ROUNDROBIN: 'round_robin',
};

export interface LookasideServerOptions {
  readonly resolver: Resolver;
  readonly metrics: LookasideMetrics;
  readonly grpcMetrics: GrpcServerMetrics;
  readonly logger: Logger;
  /** DEFAULT_SERVER_LIMITS when not given (the connection bound is the listener's). */
  readonly limits?: ServerLimits;
  /** Unanswered requests per ResolveStream before the server stops reading it. */
  readonly maxUnansweredPerStream?: number;
  /** Called for each call or stream refused for a limit, with the limit's variable. */
  readonly onRefused?: (limit: 'MAX_OPEN_CALLS' | 'MAX_RESOLVE_STREAMS') => void;
  /** The clock of the ResolveStream idle limit. */
  readonly now?: () => number;
  /** Where the calls handed out and reported are accounted; when not given, reports are read and dropped. */
  readonly calls?: CallAccounting;
  /** The xDS control plane to serve beside the Lookaside API (XDS=on). */
  readonly xds?: XdsServer;
}

export interface LookasideServer {
  /** Health, reflection, xDS: everything but the Resolve methods. */
  readonly server: Server;
  /** The Resolve methods, served straight on the HTTP/2 streams the front hands them. */
  readonly routes: StreamRoutes;
  readonly health: HealthReporter;
  /** Calls open now (every kind), and ResolveStreams among them. */
  openCalls(): number;
  openResolveStreams(): number;
  /** Ends the ResolveStreams idle for longer than the limit (also runs on a timer). */
  sweepIdleStreams(): void;
  /**
   * For shutdown, once the server stopped taking new calls: waits for the
   * unary Resolve calls in flight, then ends every open ResolveStream with
   * UNAVAILABLE "shutting down" (after the answers it owes), so long-lived
   * streams do not hold the server for the whole grace period.
   */
  endStreams(): Promise<void>;
}

/**
 * The gRPC edge: turns requests into resolver queries and outcomes into
 * responses or status codes. Serves lookaside.v1 (unary and streaming) and
 * the seed API side by side, with health and reflection, and the xDS
 * control plane when given one.
 */
export function createLookasideServer(options: LookasideServerOptions): LookasideServer {
  const { packageDefinition, grpcObject } = loadProtos(PROTO_FILES);
  const limits = options.limits ?? DEFAULT_SERVER_LIMITS;
  const guard = new CallGuard({
    maxOpenCalls: limits.maxOpenCalls,
    limitName: 'MAX_OPEN_CALLS',
    onRefused: () => options.onRefused?.('MAX_OPEN_CALLS'),
  });
  // Each connection's SETTINGS, keepalive and idle time are the GrpcFront's (src/common/grpc-front.ts).
  const server = new Server({
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
    interceptors: [guard.interceptor],
  });
  const xds = options.xds;
  const health = new HealthReporter(xds === undefined ? [V1_SERVICE, SEED_SERVICE] : [V1_SERVICE, SEED_SERVICE, ADS_SERVICE]);
  const calls = options.calls;
  const unary = new UnaryCalls(calls?.unaryLedger);
  const answerV1 = v1Answering(options);
  const streams = new ResolveStreams<V1ResolveRequest, V1ResolveResponse>(answerV1, {
    maxStreams: limits.maxResolveStreams,
    idleMs: limits.resolveStreamIdleMs,
    maxUnansweredPerStream: options.maxUnansweredPerStream,
    now: options.now,
    onRefused: () => options.onRefused?.('MAX_RESOLVE_STREAMS'),
    openLedger: calls === undefined ? undefined : () => calls.openStreamLedger(),
  });

  // The Resolve methods are served on their HTTP/2 streams (`routes`), not by grpc-js; reflection still describes them.
  const routes = resolveRoutes({
    v1Service: serviceConstructor(grpcObject, V1_SERVICE).service,
    seedService: serviceConstructor(grpcObject, SEED_SERVICE).service,
    slots: guard,
    grpcMetrics: options.grpcMetrics,
    maxRequestBytes: MAX_REQUEST_BYTES,
    unary,
    streams,
    answerV1,
    answerSeed: seedAnswering(options),
  });
  xds?.addToServer(server, options.grpcMetrics);
  health.addToServer(server);
  addReflection(server, xds === undefined ? packageDefinition : { ...packageDefinition, ...xds.packageDefinition });
  return {
    server,
    routes,
    health,
    openCalls: () => guard.openCalls,
    openResolveStreams: () => streams.size,
    sweepIdleStreams: () => streams.sweepIdle(),
    endStreams: async () => {
      // An idle ADS stream owes nothing: its clients keep their last resources and move to another replica.
      xds?.endAll(Status.UNAVAILABLE, 'shutting down');
      await unary.idle();
      streams.endAll(Status.UNAVAILABLE, 'shutting down');
    },
  };
}

function v1Answering(options: LookasideServerOptions): Answering<V1ResolveRequest, V1ResolveResponse> {
  const toResponse = (outcome: Extract<ResolveOutcome, { ok: true }>): V1ResolveResponse => ({
    address: outcome.endpoint.address,
    ip: outcome.endpoint.ip,
    port: outcome.endpoint.port,
    pod_name: outcome.endpoint.podName,
    zone: outcome.endpoint.zone,
    node_name: outcome.endpoint.nodeName,
    ready_endpoints: outcome.readyEndpoints,
  });
  return (request, waitLimitMs, ledger) => {
    const policyKey = String(request.policy);
    if (!(policyKey in V1_POLICIES)) {
      return reject(options, request, Status.INVALID_ARGUMENT, `unknown policy ${policyKey}; use ${Object.keys(V1_POLICIES).slice(1).join(', ')}`);
    }
    const query: ResolveQuery = {
      service: request.service,
      namespace: request.namespace,
      policy: V1_POLICIES[policyKey],
      portName: request.port_name,
      calls: v1CallReports(request, ledger, options.calls),
      method: request.method,
      headers: request.headers,
    };
    if (request.report_only) return reportOnly(options, query);
    return answer(options, query, waitLimitMs, toResponse);
  };
}

/** A request that only reports calls: recorded, nothing picked, not counted as a Resolve. */
function reportOnly(options: LookasideServerOptions, query: ResolveQuery): Answer<V1ResolveResponse> {
  let refused: ResolveFailed | undefined;
  try {
    refused = options.resolver.report(query);
  } catch (error) {
    return internalError(options, error);
  }
  if (refused === undefined) return { ok: true, response: NOTHING_PICKED };
  const { code, reason } = FAILURES[refused.reason];
  return { ok: false, code, message: refused.message, reason };
}

function seedAnswering(options: LookasideServerOptions): Answering<SeedResolveRequest, SeedResolveResponse> {
  return (request, waitLimitMs) => {
    const policy = SEED_POLICIES[String(request.router)];
    if (policy === undefined) {
      return reject(options, request, Status.INVALID_ARGUMENT, `unknown router ${String(request.router)}; use RANDOM or ROUNDROBIN`);
    }
    const query: ResolveQuery = {
      service: request.service,
      namespace: request.namespace,
      policy,
      portName: '',
      anyPort: true,
    };
    return answer(options, query, waitLimitMs, (outcome) => ({ address: outcome.endpoint.ip }));
  };
}

/**
 * The one place a resolver outcome becomes an answer: its status code, its
 * count in lookaside_resolve_total, its debug log line. Shared by unary
 * Resolve, the seed API and every message of ResolveStream.
 */
function answer<Response>(
  options: LookasideServerOptions,
  query: ResolveQuery,
  waitLimitMs: number,
  toResponse: (outcome: Extract<ResolveOutcome, { ok: true }>) => Response,
): Answer<Response> | Promise<Answer<Response>> {
  const settle = (outcome: ResolveOutcome): Answer<Response> => {
    const counts = outcome.resolveCounts ?? options.metrics.unwatchedResolves;
    if (outcome.ok) {
      counts.count(outcome.policy, 'OK');
      return { ok: true, response: toResponse(outcome) };
    }
    const { code, reason } = FAILURES[outcome.reason];
    counts.count(outcome.policy, grpcCodeName(code));
    options.logger.debug({ code: grpcCodeName(code), reason, message: outcome.message }, 'resolve failed');
    return { ok: false, code, message: outcome.message, reason };
  };
  let outcome: ResolveOutcome | Promise<ResolveOutcome>;
  try {
    outcome = options.resolver.resolve(query, waitLimitMs);
  } catch (error) {
    return internalError(options, error);
  }
  if (!(outcome instanceof Promise)) return settle(outcome);
  return outcome.then(settle, (error: unknown) => internalError(options, error));
}

function internalError(options: LookasideServerOptions, error: unknown): Answer<never> {
  options.logger.error({ err: error }, 'resolve threw');
  return { ok: false, code: Status.INTERNAL, message: 'internal error while resolving', reason: 'INTERNAL' };
}

function reject(options: LookasideServerOptions, request: { service: string }, code: Status, message: string): Answer<never> {
  options.metrics.countResolve(UNWATCHED_LABEL, UNWATCHED_LABEL, 'unknown', grpcCodeName(code));
  options.logger.debug({ code: grpcCodeName(code), message, service: request.service.slice(0, 80) }, 'resolve rejected');
  return { ok: false, code, message, reason: 'INVALID_REQUEST' };
}
