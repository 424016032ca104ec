// Original file: proto/lookaside/lookaside.proto


export interface Response {
  'address'?: (string);
}

export interface Response__Output {
  'address': (string);
}
