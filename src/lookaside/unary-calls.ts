import { Metadata, type handleUnaryCall, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';

import { MalformedRequest } from '../common/grpc-request-framing.js';
import { remainingMs } from '../common/grpc.js';
import { RESOLVE_ERROR_DOMAIN } from '../common/resolve-reasons.js';
import { encodeStatusDetails, STATUS_DETAILS_TRAILER } from '../common/status-details.js';
import { NO_LEDGER, type CallLedger } from './load/call-ledger.js';
import { malformedAnswer, type Answer, type Answering } from './resolve-stream.js';

/**
 * The service's request decoders, made to return a MalformedRequest instead
 * of throwing: grpc-js would answer INTERNAL "Error deserializing request"
 * (and end a whole ResolveStream for one bad request), where the client
 * should hear INVALID_ARGUMENT for that request only.
 */
export function tolerantRequests(service: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(service) as [string, MethodDefinition<unknown, unknown>][];
  return Object.fromEntries(methods.map(([name, method]) => [name, { ...method, requestDeserialize: tolerant(method.requestDeserialize) }]));
}

function tolerant(decode: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      return new MalformedRequest(`cannot decode the request: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}

/** Unary handlers over an Answering, counting the calls in flight so shutdown can wait for them. */
export class UnaryCalls {
  private inFlight = 0;
  private waiters: (() => void)[] = [];

  /** @param ledger where the calls handed out by unary Resolve are held (leases that expire) */
  constructor(private readonly ledger: CallLedger = NO_LEDGER) {}

  handler<Request, Response>(answering: Answering<Request, Response>): handleUnaryCall<Request | MalformedRequest, Response> {
    return (call, callback) => {
      const reply = (answer: Answer<Response>): void => {
        if (answer.ok) callback(null, answer.response);
        else callback({ code: answer.code, details: answer.message, metadata: statusDetails(answer) });
      };
      const request = call.request;
      const answer = request instanceof MalformedRequest ? malformedAnswer(request) : answering(request, remainingMs(call), this.ledger);
      if (!(answer instanceof Promise)) {
        reply(answer);
        return;
      }
      this.inFlight += 1;
      void answer.then(reply).finally(() => this.done());
    };
  }

  /** Resolves when no unary call is waiting for its answer. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private done(): void {
    this.inFlight -= 1;
    if (this.inFlight > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The failure's reason as a google.rpc.ErrorInfo in the status details trailer, for clients that branch on it. */
function statusDetails(answer: Extract<Answer<unknown>, { ok: false }>): Metadata {
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(answer.code, answer.message, { reason: answer.reason, domain: RESOLVE_ERROR_DOMAIN }));
  return metadata;
}
