// Original file: proto/greet/v1/greet.proto


export interface GreetResponse {
  'result'?: (string);
  'pod_name'?: (string);
  'pod_ip'?: (string);
}

export interface GreetResponse__Output {
  'result': (string);
  'pod_name': (string);
  'pod_ip': (string);
}
