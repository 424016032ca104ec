import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

import { status as Status, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';

import { admitCall, H2Call, type H2MethodContext, type MessageCodec } from '../common/grpc-h2-call.js';
import { MalformedRequest } from '../common/grpc-request-framing.js';
import type { StreamRoute } from '../common/grpc-stream-routes.js';
import { RESOLVE_ERROR_DOMAIN } from '../common/resolve-reasons.js';
import { encodeStatusDetails } from '../common/status-details.js';
import { NO_LEDGER, type CallLedger } from './load/call-ledger.js';
import { malformedAnswer, type Answer, type Answering } from './resolve-stream.js';

/**
 * The service's request decoders, made to return a MalformedRequest instead
 * of throwing: grpc-js would answer INTERNAL "Error deserializing request"
 * (and end a whole stream for one bad request), where the client
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
      return cannotDecode(error);
    }
  };
}

export function cannotDecode(error: unknown): MalformedRequest {
  return new MalformedRequest(`cannot decode the request: ${error instanceof Error ? error.message : String(error)}`);
}

/** One unary method served on HTTP/2 streams. */
interface UnaryMethod<Request, Response> extends H2MethodContext {
  readonly codec: MessageCodec<Request, Response>;
  readonly answering: Answering<Request, Response>;
  readonly calls: UnaryCalls;
}

/** Unary handlers over an Answering, counting the calls waiting for an answer so shutdown can wait for them. */
export class UnaryCalls {
  private inFlight = 0;
  private waiters: (() => void)[] = [];

  /** @param ledger where the calls handed out by unary Resolve are held (leases that expire) */
  constructor(readonly ledger: CallLedger = NO_LEDGER) {}

  /** The stream route of one unary method. */
  route<Request, Response>(context: H2MethodContext, codec: MessageCodec<Request, Response>, answering: Answering<Request, Response>): StreamRoute {
    const method: UnaryMethod<Request, Response> = { ...context, codec, answering, calls: this };
    return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const deadlineMs = admitCall(stream, headers, method);
      if (deadlineMs !== undefined) new UnaryCall(stream, deadlineMs, method, headers['grpc-encoding'] as string | undefined);
    };
  }

  /** Resolves when no unary call is waiting for its answer. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** @internal an answer began to wait */
  waiting(): void {
    this.inFlight += 1;
  }

  /** @internal a waiting answer came */
  done(): void {
    this.inFlight -= 1;
    if (this.inFlight > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

const ONE_MESSAGE = 'the request ended before one whole message arrived; this method takes exactly one';

class UnaryCall<Request, Response> extends H2Call {
  private request: Buffer | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    stream: ServerHttp2Stream,
    deadlineMs: number,
    private readonly method: UnaryMethod<Request, Response>,
    encoding: string | undefined,
  ) {
    super(stream, deadlineMs, method, encoding);
  }

  onMessage(bytes: Buffer): void {
    if (this.request !== undefined) {
      this.sendStatus(Status.INVALID_ARGUMENT, 'a second request message arrived; this method takes exactly one', undefined);
      return;
    }
    this.request = bytes;
  }

  protected onInputEnd(cutShort: string | undefined): void {
    const bytes = this.request;
    if (bytes === undefined || cutShort !== undefined) {
      this.reply(malformedAnswer(new MalformedRequest(bytes === undefined ? ONE_MESSAGE : cutShort ?? ONE_MESSAGE)));
      return;
    }
    const method = this.method;
    let request: Request;
    try {
      request = method.codec.decode(bytes);
    } catch (error) {
      this.reply(malformedAnswer(cannotDecode(error)));
      return;
    }
    const answer = method.answering(request, this.remainingMs(), method.calls.ledger);
    if (!(answer instanceof Promise)) {
      this.reply(answer);
      return;
    }
    method.calls.waiting();
    if (this.deadlineMs !== Number.POSITIVE_INFINITY) this.deadlineTimer = setTimeout(() => this.expired(), Math.max(0, this.remainingMs())).unref();
    void answer.then(
      (settled) => this.reply(settled),
    ).finally(() => method.calls.done());
  }

  protected onCancelled(): void {
    clearTimeout(this.deadlineTimer);
  }

  reply(answer: Answer<Response>): void {
    if (this.ended) return;
    clearTimeout(this.deadlineTimer);
    if (answer.ok) {
      this.queueMessage(this.method.codec.encode(answer.response));
      this.sendStatus(Status.OK, '', undefined);
    } else {
      this.sendStatus(answer.code, answer.message, encodeStatusDetails(answer.code, answer.message, { reason: answer.reason, domain: RESOLVE_ERROR_DOMAIN }));
    }
  }

  /** The deadline passed while the answer waits: DEADLINE_EXCEEDED, as grpc-js answered. */
  expired(): void {
    this.sendStatus(Status.DEADLINE_EXCEEDED, 'Deadline exceeded', undefined);
  }
}
