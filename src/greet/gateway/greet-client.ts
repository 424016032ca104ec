import {
  Client,
  credentials,
  status as Status,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../common/grpc.js';
import { GREET_PROTO_FILES, GREET_SERVICE, type GreetRequest, type GreetResponse } from '../api.js';
import type { KeepaliveSettings } from './config.js';

const GREET_PATH = `/${GREET_SERVICE}/Greet`;

/**
 * Options for every channel to a greet server, whatever the balancing mode,
 * so the modes differ only in how they pick the server.
 */
const COMMON_CHANNEL_OPTIONS: ChannelOptions = {
  // Pods come and go; do not wait long to notice that one is back.
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

export type GreetCallResult =
  | { readonly ok: true; readonly response: GreetResponse; readonly peer: string }
  | { readonly ok: false; readonly code: Status; readonly message: string };

/** Serializers for GreetService.Greet, taken once from the proto. */
interface GreetCodec {
  readonly serialize: (request: GreetRequest) => Buffer;
  readonly deserialize: (bytes: Buffer) => GreetResponse;
}

let codec: GreetCodec | undefined;

function greetCodec(): GreetCodec {
  if (codec === undefined) {
    const method = serviceConstructor(loadProtos(GREET_PROTO_FILES).grpcObject, GREET_SERVICE).service['Greet'];
    if (method === undefined) throw new Error(`${GREET_SERVICE} has no Greet method`);
    codec = {
      serialize: method.requestSerialize as (request: GreetRequest) => Buffer,
      deserialize: method.responseDeserialize as (bytes: Buffer) => GreetResponse,
    };
  }
  return codec;
}

/**
 * grpc-js keepalive: a PING `timeMs` after the last, on idle channels too (a
 * pooled channel waits idle between calls, and should be found dead before a
 * call is sent into it); no answer within `timeoutMs` drops the connection,
 * calls on it fail UNAVAILABLE (and are retried on another pod), and the
 * channel reconnects. grpc-js servers (the greet server) accept any PING rate.
 */
export function keepaliveChannelOptions(keepalive: KeepaliveSettings): ChannelOptions {
  if (keepalive.timeMs === 0) return {};
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/**
 * Opens a grpc-js channel to greet servers. `target` is one pod's `ip:port`
 * (lookaside mode) or a resolver target such as `dns:///greetserver:50051`.
 */
export function openGreetChannel(target: string, keepalive: KeepaliveSettings, extraOptions: ChannelOptions = {}): Client {
  greetCodec(); // load the proto now, not on the first request
  return new Client(target, credentials.createInsecure(), {
    ...COMMON_CHANNEL_OPTIONS,
    ...keepaliveChannelOptions(keepalive),
    ...extraOptions,
  });
}

/** A Greet on its way: its result, and a way to give up on it. */
export interface StartedGreet {
  /** Never rejects: failures come back as data (CANCELLED once given up on). */
  readonly result: Promise<GreetCallResult>;
  /** Cancels the call; its result then says CANCELLED unless it had already ended. */
  cancel(): void;
}

/** One Greet call with a deadline. Never rejects: failures come back as data. */
export function callGreet(client: Client, request: GreetRequest, timeoutMs: number): Promise<GreetCallResult> {
  return startGreet(client, request, timeoutMs).result;
}

/** One Greet call with a deadline, which the caller may cancel before it ends (a hedge answered first). */
export function startGreet(client: Client, request: GreetRequest, timeoutMs: number): StartedGreet {
  const { serialize, deserialize } = greetCodec();
  let cancel: () => void = () => undefined;
  const result = new Promise<GreetCallResult>((resolve) => {
    const call = client.makeUnaryRequest(
      GREET_PATH,
      serialize,
      deserialize,
      request,
      { deadline: Date.now() + timeoutMs },
      (error: ServiceError | null, response?: GreetResponse) => {
        if (error !== null || response === undefined) {
          resolve({ ok: false, code: error?.code ?? Status.INTERNAL, message: error?.details ?? 'empty response' });
        } else {
          resolve({ ok: true, response, peer: call.getPeer() });
        }
      },
    );
    cancel = () => call.cancel();
  });
  return { result, cancel: () => cancel() };
}
