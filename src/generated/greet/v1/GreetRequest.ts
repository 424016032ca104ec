// Original file: proto/greet/v1/greet.proto


export interface GreetRequest {
  'first_name'?: (string);
  'last_name'?: (string);
}

export interface GreetRequest__Output {
  'first_name': (string);
  'last_name': (string);
}
