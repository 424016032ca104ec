// Original file: proto/lookaside/v1/lookaside.proto


// Original file: proto/lookaside/v1/lookaside.proto

export const _lookaside_v1_ResolveRequest_Policy = {
  POLICY_UNSPECIFIED: 'POLICY_UNSPECIFIED',
  ROUND_ROBIN: 'ROUND_ROBIN',
  RANDOM: 'RANDOM',
} as const;

export type _lookaside_v1_ResolveRequest_Policy =
  | 'POLICY_UNSPECIFIED'
  | 0
  | 'ROUND_ROBIN'
  | 1
  | 'RANDOM'
  | 2

export type _lookaside_v1_ResolveRequest_Policy__Output = typeof _lookaside_v1_ResolveRequest_Policy[keyof typeof _lookaside_v1_ResolveRequest_Policy]

export interface ResolveRequest {
  'service'?: (string);
  'namespace'?: (string);
  'policy'?: (_lookaside_v1_ResolveRequest_Policy);
  'port_name'?: (string);
}

export interface ResolveRequest__Output {
  'service': (string);
  'namespace': (string);
  'policy': (_lookaside_v1_ResolveRequest_Policy__Output);
  'port_name': (string);
}
