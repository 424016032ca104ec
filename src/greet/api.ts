/** The greet.v1 API as both sides see it (proto field names, as proto-loader keeps them). */

export const GREET_SERVICE = 'greet.v1.GreetService';
export const GREET_PROTO_FILES = ['greet/v1/greet.proto'] as const;

export interface GreetRequest {
  first_name: string;
  last_name: string;
}

export interface GreetResponse {
  result: string;
  pod_name: string;
  pod_ip: string;
}
