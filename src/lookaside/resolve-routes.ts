import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

import type { CallSlots, H2MethodContext, MessageCodec } from '../common/grpc-h2-call.js';
import type { GrpcServerMetrics } from '../common/grpc-metrics.js';
import type { StreamRoutes } from '../common/grpc-stream-routes.js';
import { encodeResolveResponse, encodeSeedResponse, encodeStreamAnswer } from './resolve-encoders.js';
import { resolveRequestDecoder } from './resolve-request-decoder.js';
import { resolveStreamRoute } from './resolve-stream-call.js';
import type { Answering, ResolveStreams, StreamAnswer } from './resolve-stream.js';
import type { SeedResolveRequest, SeedResolveResponse, V1ResolveRequest, V1ResolveResponse } from './server.js';
import type { UnaryCalls } from './unary-calls.js';

/** What the lean Resolve routes are made of. */
export interface ResolveRoutesParts {
  /** lookaside.v1.Lookaside and the seed lookaside.Lookaside, as proto-loader loaded them. */
  readonly v1Service: ServiceDefinition;
  readonly seedService: ServiceDefinition;
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
  const v1 = parts.v1Service;
  const seed = parts.seedService;
  const route = (definition: MethodDefinition<unknown, unknown>, type: 'unary' | 'bidi_stream'): H2MethodContext => {
    const [service = '', method = ''] = definition.path.slice(1).split('/');
    return { slots: parts.slots, counters: parts.grpcMetrics.methodCounters(type, service, method), maxRequestBytes: parts.maxRequestBytes };
  };
  const v1Resolve = methodOf(v1, 'Resolve');
  const v1Stream = methodOf(v1, 'ResolveStream');
  const seedResolve = methodOf(seed, 'Resolve');
  return new Map([
    [v1Resolve.path, parts.unary.route(route(v1Resolve, 'unary'), codecOf<V1ResolveRequest, V1ResolveResponse>(v1Resolve, encodeResolveResponse, resolveRequestDecoder), parts.answerV1)],
    [
      v1Stream.path,
      resolveStreamRoute(route(v1Stream, 'bidi_stream'), codecOf<V1ResolveRequest, StreamAnswer<V1ResolveResponse>>(v1Stream, encodeStreamAnswer, resolveRequestDecoder), parts.streams),
    ],
    [seedResolve.path, parts.unary.route(route(seedResolve, 'unary'), codecOf<SeedResolveRequest, SeedResolveResponse>(seedResolve, encodeSeedResponse), parts.answerSeed)],
  ]);
}

function methodOf(service: ServiceDefinition, name: string): MethodDefinition<unknown, unknown> {
  const definition = service[name];
  if (definition === undefined) throw new Error(`no method ${name}`);
  return definition as MethodDefinition<unknown, unknown>;
}

/**
 * A method's codec: proto-loader's decoder (the objects grpc-js handed its
 * handlers), or a faster one in front of it; our encoder (resolve-encoders.ts).
 */
function codecOf<Request, Response>(
  definition: MethodDefinition<unknown, unknown>,
  encode: (response: Response) => Buffer,
  faster?: (fallback: (bytes: Buffer) => Request) => (bytes: Buffer) => Request,
): MessageCodec<Request, Response> {
  const protoLoader = definition.requestDeserialize as (bytes: Buffer) => Request;
  return { decode: faster === undefined ? protoLoader : faster(protoLoader), encode };
}
