// Original file: proto/lookaside/v1/lookaside.proto

import type { ResolveResponse as _lookaside_v1_ResolveResponse, ResolveResponse__Output as _lookaside_v1_ResolveResponse__Output } from '../../lookaside/v1/ResolveResponse.js';

export interface ResolveStreamResponse {
  'response'?: (_lookaside_v1_ResolveResponse | null);
  'code'?: (number);
  'message'?: (string);
  'reason'?: (string);
}

export interface ResolveStreamResponse__Output {
  'response': (_lookaside_v1_ResolveResponse__Output | null);
  'code': (number);
  'message': (string);
  'reason': (string);
}
