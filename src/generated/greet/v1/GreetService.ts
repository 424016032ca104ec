// Original file: proto/greet/v1/greet.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GreetRequest as _greet_v1_GreetRequest, GreetRequest__Output as _greet_v1_GreetRequest__Output } from '../../greet/v1/GreetRequest.js';
import type { GreetResponse as _greet_v1_GreetResponse, GreetResponse__Output as _greet_v1_GreetResponse__Output } from '../../greet/v1/GreetResponse.js';

export interface GreetServiceClient extends grpc.Client {
  Greet(argument: _greet_v1_GreetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  Greet(argument: _greet_v1_GreetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  Greet(argument: _greet_v1_GreetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  Greet(argument: _greet_v1_GreetRequest, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  greet(argument: _greet_v1_GreetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  greet(argument: _greet_v1_GreetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  greet(argument: _greet_v1_GreetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  greet(argument: _greet_v1_GreetRequest, callback: grpc.requestCallback<_greet_v1_GreetResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface GreetServiceHandlers extends grpc.UntypedServiceImplementation {
  Greet: grpc.handleUnaryCall<_greet_v1_GreetRequest__Output, _greet_v1_GreetResponse>;
  
}

export interface GreetServiceDefinition extends grpc.ServiceDefinition {
  Greet: MethodDefinition<_greet_v1_GreetRequest, _greet_v1_GreetResponse, _greet_v1_GreetRequest__Output, _greet_v1_GreetResponse__Output>
}
