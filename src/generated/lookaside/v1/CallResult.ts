// Original file: proto/lookaside/v1/lookaside.proto


export interface CallResult {
  'address'?: (string);
  'code'?: (number);
  'latency_micros'?: (number);
  'not_called'?: (boolean);
}

export interface CallResult__Output {
  'address': (string);
  'code': (number);
  'latency_micros': (number);
  'not_called': (boolean);
}
