import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { GreetRequest as _greet_v1_GreetRequest, GreetRequest__Output as _greet_v1_GreetRequest__Output } from './greet/v1/GreetRequest.js';
import type { GreetResponse as _greet_v1_GreetResponse, GreetResponse__Output as _greet_v1_GreetResponse__Output } from './greet/v1/GreetResponse.js';
import type { GreetServiceClient as _greet_v1_GreetServiceClient, GreetServiceDefinition as _greet_v1_GreetServiceDefinition } from './greet/v1/GreetService.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  greet: {
    v1: {
      GreetRequest: MessageTypeDefinition<_greet_v1_GreetRequest, _greet_v1_GreetRequest__Output>
      GreetResponse: MessageTypeDefinition<_greet_v1_GreetResponse, _greet_v1_GreetResponse__Output>
      GreetService: SubtypeConstructor<typeof grpc.Client, _greet_v1_GreetServiceClient> & { service: _greet_v1_GreetServiceDefinition }
    }
  }
}

