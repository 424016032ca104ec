import {
  Server,
  status as Status,
  type handleUnaryCall,
  type MethodDefinition,
  type ServiceDefinition,
} from '@grpc/grpc-js';

import { grpcCodeName, type GrpcServerMetrics } from '../common/grpc-metrics.js';
import {
  addReflection,
  HealthReporter,
  loadProtos,
  remainingMs,
  serviceConstructor,
} from '../common/grpc.js';
import type { Logger } from '../common/logging.js';
import type { PolicyName } from './balancing/picker.js';
import { UNWATCHED_LABEL, type LookasideMetrics } from './metrics.js';
import { MalformedRequest, ResolveStreams, type Answer, type Answering } from './resolve-stream.js';
import type { ResolveFailureReason, ResolveOutcome, ResolveQuery, Resolver } from './resolver.js';

export const V1_SERVICE = 'lookaside.v1.Lookaside';
export const SEED_SERVICE = 'lookaside.Lookaside';
export const PROTO_FILES = ['lookaside/v1/lookaside.proto', 'lookaside/lookaside.proto'] as const;
/** Requests are a few names; anything near this size is not a real client. */
const MAX_REQUEST_BYTES = 16 * 1024;

interface V1ResolveRequest {
  service: string;
  namespace: string;
  policy: string | number;
  port_name: string;
}

interface V1ResolveResponse {
  address: string;
  ip: string;
  port: number;
  pod_name: string;
  zone: string;
  node_name: string;
  ready_endpoints: number;
}

interface SeedResolveRequest {
  router: string | number;
  service: string;
  namespace: string;
}

interface SeedResolveResponse {
  address: string;
}

const STATUS_BY_REASON: Readonly<Record<ResolveFailureReason, Status>> = {
  'invalid-argument': Status.INVALID_ARGUMENT,
  'permission-denied': Status.PERMISSION_DENIED,
  'too-many-services': Status.RESOURCE_EXHAUSTED,
  // Transient: the lookup budget refills within a second, so clients should retry.
  'lookups-busy': Status.UNAVAILABLE,
  'not-found': Status.NOT_FOUND,
  'no-ready-endpoints': Status.UNAVAILABLE,
  'discovery-unavailable': Status.UNAVAILABLE,
  'discovery-forbidden': Status.PERMISSION_DENIED,
};

/** lookaside.v1 policy enum (by name, or by number when unknown to the proto). */
const V1_POLICIES: Readonly<Record<string, PolicyName | undefined>> = {
  POLICY_UNSPECIFIED: undefined,
  ROUND_ROBIN: 'round_robin',
  RANDOM: 'random',
};

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
  /** Unanswered requests per ResolveStream before the server stops reading it. */
  readonly maxUnansweredPerStream?: number;
}

export interface LookasideServer {
  readonly server: Server;
  readonly health: HealthReporter;
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
 * the seed API side by side, with health and reflection.
 */
export function createLookasideServer(options: LookasideServerOptions): LookasideServer {
  const { packageDefinition, grpcObject } = loadProtos(PROTO_FILES);
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  const health = new HealthReporter([V1_SERVICE, SEED_SERVICE]);
  const unary = new UnaryCalls();
  const answerV1 = v1Answering(options);
  const streams = new ResolveStreams<V1ResolveRequest, V1ResolveResponse>(answerV1, options.maxUnansweredPerStream);

  server.addService(tolerantStreamRequests(serviceConstructor(grpcObject, V1_SERVICE).service), {
    Resolve: options.grpcMetrics.instrumentUnary(V1_SERVICE, 'Resolve', unary.handler(answerV1)),
    ResolveStream: options.grpcMetrics.instrumentBidi(V1_SERVICE, 'ResolveStream', streams.handle),
  });
  server.addService(serviceConstructor(grpcObject, SEED_SERVICE).service, {
    Resolve: options.grpcMetrics.instrumentUnary(SEED_SERVICE, 'Resolve', unary.handler(seedAnswering(options))),
  });
  health.addToServer(server);
  addReflection(server, packageDefinition);
  return {
    server,
    health,
    endStreams: async () => {
      await unary.idle();
      streams.endAll(Status.UNAVAILABLE, 'shutting down');
    },
  };
}

/**
 * ResolveStream's request decoder, made to return a MalformedRequest instead
 * of throwing: grpc-js would end the whole stream on a decoding error, and one
 * bad request should only get its own error answer.
 */
function tolerantStreamRequests(service: ServiceDefinition): ServiceDefinition {
  const method = service['ResolveStream'] as MethodDefinition<unknown, unknown> | undefined;
  if (method === undefined) throw new Error(`${V1_SERVICE} has no ResolveStream method`);
  const decode = method.requestDeserialize;
  return {
    ...service,
    ResolveStream: {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (error) {
          return new MalformedRequest(error instanceof Error ? error.message : String(error));
        }
      },
    },
  };
}

/** Unary handlers over an Answering, counting the calls in flight so shutdown can wait for them. */
class UnaryCalls {
  private inFlight = 0;
  private waiters: (() => void)[] = [];

  handler<Request, Response>(answering: Answering<Request, Response>): handleUnaryCall<Request, Response> {
    return (call, callback) => {
      const reply = (answer: Answer<Response>): void => {
        if (answer.ok) callback(null, answer.response);
        else callback({ code: answer.code, details: answer.message });
      };
      const answer = answering(call.request, remainingMs(call));
      if (!(answer instanceof Promise)) {
        reply(answer);
        return;
      }
      this.inFlight += 1;
      void answer.then(reply).finally(() => this.done());
    };
  }

  /** Resolves when no unary call is waiting for its answer. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private done(): void {
    this.inFlight -= 1;
    if (this.inFlight > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
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
  return (request, waitLimitMs) => {
    const policyKey = String(request.policy);
    if (!(policyKey in V1_POLICIES)) {
      return reject(options, request, Status.INVALID_ARGUMENT, `unknown policy ${policyKey}; use ROUND_ROBIN or RANDOM`);
    }
    const query: ResolveQuery = {
      service: request.service,
      namespace: request.namespace,
      policy: V1_POLICIES[policyKey],
      portName: request.port_name,
    };
    return answer(options, query, waitLimitMs, toResponse);
  };
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
    const code = outcome.ok ? Status.OK : STATUS_BY_REASON[outcome.reason];
    const labels = outcome.watched ? outcome : { namespace: UNWATCHED_LABEL, service: UNWATCHED_LABEL };
    options.metrics.countResolve(labels.namespace, labels.service, outcome.policy, grpcCodeName(code));
    if (outcome.ok) return { ok: true, response: toResponse(outcome) };
    options.logger.debug({ code: grpcCodeName(code), message: outcome.message }, 'resolve failed');
    return { ok: false, code, message: outcome.message };
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
  return { ok: false, code: Status.INTERNAL, message: 'internal error while resolving' };
}

function reject(options: LookasideServerOptions, request: { service: string }, code: Status, message: string): Answer<never> {
  options.metrics.countResolve(UNWATCHED_LABEL, UNWATCHED_LABEL, 'unknown', grpcCodeName(code));
  options.logger.debug({ code: grpcCodeName(code), message, service: request.service.slice(0, 80) }, 'resolve rejected');
  return { ok: false, code, message };
}
