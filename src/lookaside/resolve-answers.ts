import { status as Status } from '@grpc/grpc-js';

import type { MalformedRequest } from '../common/grpc-request-framing.js';
import type { ResolveReason } from '../common/resolve-reasons.js';
import type { CallLedger } from './load/call-ledger.js';

// What the Resolve methods answer, whatever carries them: one answer per request.

/** What one Resolve comes to: a response, or a gRPC status with a message and a reason for programs. */
export type Answer<Response> =
  | { readonly ok: true; readonly response: Response }
  | { readonly ok: false; readonly code: Status; readonly message: string; readonly reason: ResolveReason };

/**
 * Answers one request; synchronous when it can be (the cache hit), a promise
 * when it waits (a Service's first list). The promise never rejects. `ledger`
 * holds the calls handed to this client (its stream's, or unary Resolve's).
 */
export type Answering<Request, Response> = (
  request: Request,
  waitLimitMs: number,
  ledger: CallLedger,
) => Answer<Response> | Promise<Answer<Response>>;

/** The answer to a request that could not be decoded or was cut short. */
export function malformedAnswer(request: MalformedRequest): Answer<never> {
  return { ok: false, code: Status.INVALID_ARGUMENT, message: request.reason, reason: 'MALFORMED_REQUEST' };
}

/** ResolveStreamResponse: one per request, in request order. */
export interface StreamAnswer<Response> {
  response: Response | null;
  code: number;
  message: string;
  /** A ResolveReason when code is not 0, else empty. */
  reason: string;
}
