import type { GrpcObject, ServiceDefinition } from '@grpc/grpc-js';

import type { CallSlots, H2MethodContext, MessageCodec } from '../common/grpc-h2-call.js';
import type { GrpcServerMetrics } from '../common/grpc-metrics.js';
import { serviceConstructor } from '../common/grpc.js';
import type { StreamRoutes } from '../common/grpc-stream-routes.js';
import { encodeResolveResponse, encodeSeedResponse, encodeStreamAnswer } from './resolve-encoders.js';
import { resolveRequestDecoder } from './resolve-request-decoder.js';
import { resolveStreamRoute } from './resolve-stream-call.js';
import type { Answering, ResolveStreams, StreamAnswer } from './resolve-stream.js';
import { SEED_SERVICE, V1_SERVICE, type SeedResolveRequest, type SeedResolveResponse, type V1ResolveRequest, type V1ResolveResponse } from './server.js';
import type { UnaryCalls } from './unary-calls.js';

/** What the lean Resolve routes are made of. */
export interface ResolveRoutesParts {
  readonly grpcObject: GrpcObject;
  /** The server's open calls (MAX_OPEN_CALLS), shared with grpc-js's calls. */
  readonly slots: CallSlots;
  readonly grpcMetrics: GrpcServerMetrics;
  readonly maxRequestBytes: number;
  readonly unary: UnaryCalls;
  readonly streams: ResolveStreams<V1ResolveRequest, V1ResolveResponse>;
  readonly answerV1: Answering<V1ResolveRequest, V1ResolveResponse>;
  readonly answerSeed: Answering<SeedResolveRequest, SeedResolveResponse>;
}

/** The stream routes of lookaside.v1's Resolve and ResolveStream and the seed API's Resolve. */
export function resolveRoutes(parts: ResolveRoutesParts): StreamRoutes {
  const v1 = serviceConstructor(parts.grpcObject, V1_SERVICE).service;
  const seed = serviceConstructor(parts.grpcObject, SEED_SERVICE).service;
  const context = (type: 'unary' | 'bidi_stream', service: string, method: string): H2MethodContext => ({
    slots: parts.slots,
    counters: parts.grpcMetrics.methodCounters(type, service, method),
    maxRequestBytes: parts.maxRequestBytes,
  });
  const v1Resolve = codecOf<V1ResolveRequest, V1ResolveResponse>(v1, 'Resolve', encodeResolveResponse, resolveRequestDecoder);
  const v1Stream = codecOf<V1ResolveRequest, StreamAnswer<V1ResolveResponse>>(v1, 'ResolveStream', encodeStreamAnswer, resolveRequestDecoder);
  const seedResolve = codecOf<SeedResolveRequest, SeedResolveResponse>(seed, 'Resolve', encodeSeedResponse);
  return new Map([
    [`/${V1_SERVICE}/Resolve`, parts.unary.route(context('unary', V1_SERVICE, 'Resolve'), v1Resolve, parts.answerV1)],
    [`/${V1_SERVICE}/ResolveStream`, resolveStreamRoute(context('bidi_stream', V1_SERVICE, 'ResolveStream'), v1Stream, parts.streams)],
    [`/${SEED_SERVICE}/Resolve`, parts.unary.route(context('unary', SEED_SERVICE, 'Resolve'), seedResolve, parts.answerSeed)],
  ]);
}

/**
 * A method's codec: proto-loader's decoder (the objects grpc-js handed its
 * handlers), or a faster one in front of it; our encoder (resolve-encoders.ts).
 */
function codecOf<Request, Response>(
  service: ServiceDefinition,
  method: string,
  encode: (response: Response) => Buffer,
  faster?: (fallback: (bytes: Buffer) => Request) => (bytes: Buffer) => Request,
): MessageCodec<Request, Response> {
  const definition = service[method];
  if (definition === undefined) throw new Error(`no method ${method}`);
  const protoLoader = definition.requestDeserialize as (bytes: Buffer) => Request;
  return { decode: faster === undefined ? protoLoader : faster(protoLoader), encode };
}
