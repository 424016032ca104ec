// Original file: proto/lookaside/v1/lookaside.proto


export interface ResolveResponse {
  'address'?: (string);
  'ip'?: (string);
  'port'?: (number);
  'pod_name'?: (string);
  'zone'?: (string);
  'node_name'?: (string);
  'ready_endpoints'?: (number);
}

export interface ResolveResponse__Output {
  'address': (string);
  'ip': (string);
  'port': (number);
  'pod_name': (string);
  'zone': (string);
  'node_name': (string);
  'ready_endpoints': (number);
}
