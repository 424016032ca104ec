// Original file: proto/lookaside/lookaside.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Request as _lookaside_Request, Request__Output as _lookaside_Request__Output } from '../lookaside/Request.js';
import type { Response as _lookaside_Response, Response__Output as _lookaside_Response__Output } from '../lookaside/Response.js';

export interface LookasideClient extends grpc.Client {
  Resolve(argument: _lookaside_Request, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_Request, metadata: grpc.Metadata, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_Request, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  Resolve(argument: _lookaside_Request, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_Request, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_Request, metadata: grpc.Metadata, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_Request, options: grpc.CallOptions, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  resolve(argument: _lookaside_Request, callback: grpc.requestCallback<_lookaside_Response__Output>): grpc.ClientUnaryCall;
  
}

export interface LookasideHandlers extends grpc.UntypedServiceImplementation {
  Resolve: grpc.handleUnaryCall<_lookaside_Request__Output, _lookaside_Response>;
  
}

export interface LookasideDefinition extends grpc.ServiceDefinition {
  Resolve: MethodDefinition<_lookaside_Request, _lookaside_Response, _lookaside_Request__Output, _lookaside_Response__Output>
}
