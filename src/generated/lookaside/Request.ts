// Original file: proto/lookaside/lookaside.proto


// Original file: proto/lookaside/lookaside.proto

export const _lookaside_Request_RouterType = {
  RANDOM: 'RANDOM',
  ROUNDROBIN: 'ROUNDROBIN',
} as const;

export type _lookaside_Request_RouterType =
  | 'RANDOM'
  | 0
  | 'ROUNDROBIN'
  | 1

export type _lookaside_Request_RouterType__Output = typeof _lookaside_Request_RouterType[keyof typeof _lookaside_Request_RouterType]

export interface Request {
  'router'?: (_lookaside_Request_RouterType);
  'service'?: (string);
  'namespace'?: (string);
}

export interface Request__Output {
  'router': (_lookaside_Request_RouterType__Output);
  'service': (string);
  'namespace': (string);
}
