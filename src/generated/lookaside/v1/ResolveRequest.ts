// Original file: proto/lookaside/v1/lookaside.proto

import type { CallResult as _lookaside_v1_CallResult, CallResult__Output as _lookaside_v1_CallResult__Output } from '../../lookaside/v1/CallResult.js';

// Original file: proto/lookaside/v1/lookaside.proto

export const _lookaside_v1_ResolveRequest_Policy = {
  POLICY_UNSPECIFIED: 'POLICY_UNSPECIFIED',
  ROUND_ROBIN: 'ROUND_ROBIN',
  RANDOM: 'RANDOM',
  LEAST_REQUEST: 'LEAST_REQUEST',
  WEIGHTED_ROUND_ROBIN: 'WEIGHTED_ROUND_ROBIN',
} as const;

export type _lookaside_v1_ResolveRequest_Policy =
  | 'POLICY_UNSPECIFIED'
  | 0
  | 'ROUND_ROBIN'
  | 1
  | 'RANDOM'
  | 2
  | 'LEAST_REQUEST'
  | 3
  | 'WEIGHTED_ROUND_ROBIN'
  | 4

export type _lookaside_v1_ResolveRequest_Policy__Output = typeof _lookaside_v1_ResolveRequest_Policy[keyof typeof _lookaside_v1_ResolveRequest_Policy]

export interface ResolveRequest {
  'service'?: (string);
  'namespace'?: (string);
  'policy'?: (_lookaside_v1_ResolveRequest_Policy);
  'port_name'?: (string);
  'finished_calls'?: (_lookaside_v1_CallResult)[];
  'reports_calls'?: (boolean);
  'report_only'?: (boolean);
  'method'?: (string);
  'headers'?: ({[key: string]: string});
}

export interface ResolveRequest__Output {
  'service': (string);
  'namespace': (string);
  'policy': (_lookaside_v1_ResolveRequest_Policy__Output);
  'port_name': (string);
  'finished_calls': (_lookaside_v1_CallResult__Output)[];
  'reports_calls': (boolean);
  'report_only': (boolean);
  'method': (string);
  'headers': ({[key: string]: string});
}
