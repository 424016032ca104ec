/** The greet.v1 API as both sides see it (proto field names, as proto-loader keeps them). */

import type { GreetRequest__Output } from '../generated/greet/v1/GreetRequest.js';
import type { GreetResponse__Output } from '../generated/greet/v1/GreetResponse.js';

export const GREET_SERVICE = 'greet.v1.GreetService';
export const GREET_PROTO_FILES = ['greet/v1/greet.proto'] as const;

/** A GreetRequest with every field set, as the server receives it and the gateway sends it. */
export type GreetRequest = GreetRequest__Output;

/** A GreetResponse with every field set. */
export type GreetResponse = GreetResponse__Output;
