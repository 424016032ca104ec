import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { LookasideClient as _lookaside_LookasideClient, LookasideDefinition as _lookaside_LookasideDefinition } from './lookaside/Lookaside.js';
import type { Request as _lookaside_Request, Request__Output as _lookaside_Request__Output } from './lookaside/Request.js';
import type { Response as _lookaside_Response, Response__Output as _lookaside_Response__Output } from './lookaside/Response.js';
import type { LookasideClient as _lookaside_v1_LookasideClient, LookasideDefinition as _lookaside_v1_LookasideDefinition } from './lookaside/v1/Lookaside.js';
import type { ResolveRequest as _lookaside_v1_ResolveRequest, ResolveRequest__Output as _lookaside_v1_ResolveRequest__Output } from './lookaside/v1/ResolveRequest.js';
import type { ResolveResponse as _lookaside_v1_ResolveResponse, ResolveResponse__Output as _lookaside_v1_ResolveResponse__Output } from './lookaside/v1/ResolveResponse.js';
import type { ResolveStreamResponse as _lookaside_v1_ResolveStreamResponse, ResolveStreamResponse__Output as _lookaside_v1_ResolveStreamResponse__Output } from './lookaside/v1/ResolveStreamResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  lookaside: {
    Lookaside: SubtypeConstructor<typeof grpc.Client, _lookaside_LookasideClient> & { service: _lookaside_LookasideDefinition }
    Request: MessageTypeDefinition<_lookaside_Request, _lookaside_Request__Output>
    Response: MessageTypeDefinition<_lookaside_Response, _lookaside_Response__Output>
    v1: {
      Lookaside: SubtypeConstructor<typeof grpc.Client, _lookaside_v1_LookasideClient> & { service: _lookaside_v1_LookasideDefinition }
      ResolveRequest: MessageTypeDefinition<_lookaside_v1_ResolveRequest, _lookaside_v1_ResolveRequest__Output>
      ResolveResponse: MessageTypeDefinition<_lookaside_v1_ResolveResponse, _lookaside_v1_ResolveResponse__Output>
      ResolveStreamResponse: MessageTypeDefinition<_lookaside_v1_ResolveStreamResponse, _lookaside_v1_ResolveStreamResponse__Output>
    }
  }
}

