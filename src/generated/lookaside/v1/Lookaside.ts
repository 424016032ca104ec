// Original file: proto/lookaside/v1/lookaside.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ResolveRequest as _lookaside_v1_ResolveRequest, ResolveRequest__Output as _lookaside_v1_ResolveRequest__Output } from '../../lookaside/v1/ResolveRequest.js';
import type { ResolveResponse as _lookaside_v1_ResolveResponse, ResolveResponse__Output as _lookaside_v1_ResolveResponse__Output } from '../../lookaside/v1/ResolveResponse.js';
import type { ResolveStreamResponse as _lookaside_v1_ResolveStreamResponse, ResolveStreamResponse__Output as _lookaside_v1_ResolveStreamResponse__Output } from '../../lookaside/v1/ResolveStreamResponse.js';

export interface LookasideClient extends grpc.Client {
  Resolve(argument: _lookaside_v1_ResolveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_v1_ResolveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_v1_ResolveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_v1_ResolveRequest, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_v1_ResolveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_v1_ResolveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_v1_ResolveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_v1_ResolveRequest, callback: grpc.requestCallback<_lookaside_v1_ResolveResponse__Output>): grpc.ClientUnaryCall;
  
  ResolveStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveStreamResponse__Output>;
  ResolveStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveStreamResponse__Output>;
  resolveStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveStreamResponse__Output>;
  resolveStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveStreamResponse__Output>;
  
}

export interface LookasideHandlers extends grpc.UntypedServiceImplementation {
  Resolve: grpc.handleUnaryCall<_lookaside_v1_ResolveRequest__Output, _lookaside_v1_ResolveResponse>;
  
  ResolveStream: grpc.handleBidiStreamingCall<_lookaside_v1_ResolveRequest__Output, _lookaside_v1_ResolveStreamResponse>;
  
}

export interface LookasideDefinition extends grpc.ServiceDefinition {
  Resolve: MethodDefinition<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveResponse, _lookaside_v1_ResolveRequest__Output, _lookaside_v1_ResolveResponse__Output>
  ResolveStream: MethodDefinition<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveStreamResponse, _lookaside_v1_ResolveRequest__Output, _lookaside_v1_ResolveStreamResponse__Output>
}
