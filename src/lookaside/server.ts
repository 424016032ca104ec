import {
  Server,
  status as Status,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
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
}

/**
 * The gRPC edge: turns requests into resolver queries and outcomes into
 * responses or status codes. Serves lookaside.v1 and the seed API side by side,
 * with health and reflection.
 */
export function createLookasideServer(options: LookasideServerOptions): { server: Server; health: HealthReporter } {
  const { packageDefinition, grpcObject } = loadProtos(PROTO_FILES);
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  const health = new HealthReporter([V1_SERVICE, SEED_SERVICE]);

  server.addService(serviceConstructor(grpcObject, V1_SERVICE).service, {
    Resolve: options.grpcMetrics.instrumentUnary(V1_SERVICE, 'Resolve', resolveV1(options)),
  });
  server.addService(serviceConstructor(grpcObject, SEED_SERVICE).service, {
    Resolve: options.grpcMetrics.instrumentUnary(SEED_SERVICE, 'Resolve', resolveSeed(options)),
  });
  health.addToServer(server);
  addReflection(server, packageDefinition);
  return { server, health };
}

function resolveV1(options: LookasideServerOptions): handleUnaryCall<V1ResolveRequest, V1ResolveResponse> {
  return (call, callback) => {
    const request = call.request;
    const policyKey = String(request.policy);
    if (!(policyKey in V1_POLICIES)) {
      reject(options, callback, request, Status.INVALID_ARGUMENT, `unknown policy ${policyKey}; use ROUND_ROBIN or RANDOM`);
      return;
    }
    const query: ResolveQuery = {
      service: request.service,
      namespace: request.namespace,
      policy: V1_POLICIES[policyKey],
      portName: request.port_name,
    };
    answer(options, call, query, callback, (outcome) => ({
      address: outcome.endpoint.address,
      ip: outcome.endpoint.ip,
      port: outcome.endpoint.port,
      pod_name: outcome.endpoint.podName,
      zone: outcome.endpoint.zone,
      node_name: outcome.endpoint.nodeName,
      ready_endpoints: outcome.readyEndpoints,
    }));
  };
}

function resolveSeed(options: LookasideServerOptions): handleUnaryCall<SeedResolveRequest, SeedResolveResponse> {
  return (call, callback) => {
    const request = call.request;
    const policy = SEED_POLICIES[String(request.router)];
    if (policy === undefined) {
      reject(options, callback, request, Status.INVALID_ARGUMENT, `unknown router ${String(request.router)}; use RANDOM or ROUNDROBIN`);
      return;
    }
    const query: ResolveQuery = {
      service: request.service,
      namespace: request.namespace,
      policy,
      portName: '',
      anyPort: true,
    };
    answer(options, call, query, callback, (outcome) => ({ address: outcome.endpoint.ip }));
  };
}

function answer<Response>(
  options: LookasideServerOptions,
  call: ServerUnaryCall<unknown, Response>,
  query: ResolveQuery,
  callback: sendUnaryData<Response>,
  toResponse: (outcome: Extract<ResolveOutcome, { ok: true }>) => Response,
): void {
  const reply = (outcome: ResolveOutcome): void => {
    const code = outcome.ok ? Status.OK : STATUS_BY_REASON[outcome.reason];
    const labels = outcome.watched ? outcome : { namespace: UNWATCHED_LABEL, service: UNWATCHED_LABEL };
    options.metrics.countResolve(labels.namespace, labels.service, outcome.policy, grpcCodeName(code));
    if (outcome.ok) {
      callback(null, toResponse(outcome));
      return;
    }
    options.logger.debug({ code: grpcCodeName(code), message: outcome.message }, 'resolve failed');
    callback(serviceError(code, outcome.message));
  };
  const outcome = options.resolver.resolve(query, remainingMs(call as ServerUnaryCall<unknown, unknown>));
  if (outcome instanceof Promise) {
    outcome.then(reply, (error: unknown) => {
      options.logger.error({ err: error }, 'resolve threw');
      callback(serviceError(Status.INTERNAL, 'internal error while resolving'));
    });
  } else {
    reply(outcome);
  }
}

function reject(
  options: LookasideServerOptions,
  callback: sendUnaryData<never>,
  request: { service: string },
  code: Status,
  message: string,
): void {
  options.metrics.countResolve(UNWATCHED_LABEL, UNWATCHED_LABEL, 'unknown', grpcCodeName(code));
  options.logger.debug({ code: grpcCodeName(code), message, service: request.service.slice(0, 80) }, 'resolve rejected');
  callback(serviceError(code, message));
}

function serviceError(code: Status, details: string): Partial<ServiceError> {
  return { code, details };
}
