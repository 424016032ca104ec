import {
  status as Status,
  type Deadline,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { Histogram, type Registry } from 'prom-client';

import { whenStreamCloses } from './grpc-call-guard.js';
import { remainingMs } from './grpc.js';
import { BufferedCounter, type BufferedCounterChild } from './metrics.js';

/** gRPC status codes as go-grpc-prometheus spells them in its `grpc_code` label. */
const CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? 'Unknown';
}

/**
 * How a call that grpc-js reports as cancelled ended: DEADLINE_EXCEEDED when
 * its deadline has passed (grpc-js then sent that status itself), else
 * CANCELLED (the client went away).
 */
export function cancelledCode(call: { getDeadline(): Deadline }): Status {
  return remainingMs(call) <= DEADLINE_SLACK_MS ? Status.DEADLINE_EXCEEDED : Status.CANCELLED;
}

/** grpc-js's deadline timer can fire a millisecond before Date.now() reaches the deadline. */
const DEADLINE_SLACK_MS = 5;

/** Sub-millisecond buckets first: a cache-served unary call takes tens of microseconds. */
const HANDLING_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type CallLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';

/**
 * What a streaming handler reports about its call, since only it knows when a
 * message is one answer and how the stream ends.
 */
export interface StreamObserver {
  /** A message arrived from the client. */
  received(): void;
  /** A message was sent to the client. */
  sent(): void;
  /** The stream ended with `code`; only the first report counts. */
  finished(code: Status): void;
}

/** One method's series, for a handler that counts its calls itself. */
export class MethodCounters {
  constructor(
    /** A call started (after the server took it: a call refused for MAX_OPEN_CALLS is not counted). */
    readonly started: BufferedCounterChild<CallLabel>,
    /** A message arrived from the client (streams only, as go-grpc-prometheus counts). */
    readonly received: BufferedCounterChild<CallLabel>,
    /** A message was sent to the client (streams only). */
    readonly sent: BufferedCounterChild<CallLabel>,
    private readonly handling: { observe(seconds: number): void },
    private readonly handledFor: (code: number) => BufferedCounterChild<CallLabel | 'grpc_code'>,
  ) {}

  /** The call ended with `code`, `startedAtMs` (performance.now()) after it started. */
  handled(code: Status, startedAtMs: number): void {
    this.handledFor(code).inc();
    this.handling.observe((performance.now() - startedAtMs) / 1000);
  }
}

/**
 * Server-side call metrics with go-grpc-prometheus's names and labels, recorded
 * by wrapping each handler (cheaper than a generic interceptor).
 */
export class GrpcServerMetrics {
  private readonly started: BufferedCounter<CallLabel>;
  private readonly handled: BufferedCounter<CallLabel | 'grpc_code'>;
  private readonly handling: Histogram<CallLabel>;
  private readonly received: BufferedCounter<CallLabel>;
  private readonly sent: BufferedCounter<CallLabel>;

  constructor(registry: Registry) {
    this.started = new BufferedCounter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
    });
    this.handled = new BufferedCounter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
    });
    this.handling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      buckets: HANDLING_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.received = new BufferedCounter({
      name: 'grpc_server_msg_received_total',
      help: 'Total number of RPC stream messages received on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
    });
    this.sent = new BufferedCounter({
      name: 'grpc_server_msg_sent_total',
      help: 'Total number of gRPC stream messages sent by the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
    });
  }

  /**
   * Wraps a unary handler so every call is counted and timed when the
   * handler answers. A call the client cancelled before that counts as
   * CANCELLED (DEADLINE_EXCEEDED once its deadline passed), whatever the
   * answer. (grpc-js sets `call.cancelled`; a listener on its 'cancelled'
   * event would cost every call, as grpc-js emits it after every answer.)
   * A handler that throws answers INTERNAL instead of taking the process down.
   */
  instrumentUnary<Request, Response>(
    service: string,
    method: string,
    handler: handleUnaryCall<Request, Response>,
  ): handleUnaryCall<Request, Response> {
    const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
    const started = this.started.child(labels);
    const timer = this.handling.labels(labels);
    const handledFor = this.handledCounters(labels);
    return (call, callback) => {
      const startedAtMs = performance.now();
      started.inc();
      let answered = false;
      const answer: typeof callback = (error, value, trailer, flags) => {
        if (answered) return;
        answered = true;
        // Cancelled (or past its deadline) before this answer: the client never gets it.
        const code = call.cancelled ? cancelledCode(call) : error ? ((error as Partial<ServiceError>).code ?? Status.UNKNOWN) : Status.OK;
        handledFor(code).inc();
        timer.observe((performance.now() - startedAtMs) / 1000);
        callback(error, value, trailer, flags);
      };
      try {
        handler(call, answer);
      } catch (error) {
        answer({
          code: Status.INTERNAL,
          details: `internal error: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    };
  }

  /**
   * Wraps a bidirectional streaming handler: the stream is counted when it
   * starts and when it ends, timed from start to end, and every message the
   * handler reports through its observer is counted. A client that cancels
   * ends the stream as CANCELLED (DEADLINE_EXCEEDED once its deadline
   * passed) unless the handler reported an end first, and also when the
   * client resets the stream after the handler's end (with a CallGuard on
   * the server, the count waits for the stream to close); a handler that
   * throws ends it with INTERNAL.
   */
  instrumentBidi<Request, Response>(
    service: string,
    method: string,
    handler: (call: ServerDuplexStream<Request, Response>, observer: StreamObserver) => void,
  ): handleBidiStreamingCall<Request, Response> {
    const labels = { grpc_type: 'bidi_stream', grpc_service: service, grpc_method: method };
    const started = this.started.child(labels);
    const timer = this.handling.labels(labels);
    const received = this.received.child(labels);
    const sent = this.sent.child(labels);
    const handledFor = this.handledCounters(labels);
    return (call) => {
      const startedAtMs = performance.now();
      started.inc();
      let ended = false;
      const observer: StreamObserver = {
        received: () => received.inc(),
        sent: () => sent.inc(),
        finished: (code) => {
          if (ended) return;
          ended = true;
          const seconds = (performance.now() - startedAtMs) / 1000;
          const record = (final: Status): void => {
            handledFor(final).inc();
            timer.observe(seconds);
          };
          // Counted once the stream is gone: a reset after the handler's end means the client cancelled.
          if (!whenStreamCloses(call, (reset) => record(reset ? cancelledCode(call) : code))) record(code);
        },
      };
      call.on('cancelled', () => observer.finished(cancelledCode(call)));
      try {
        handler(call, observer);
      } catch (error) {
        observer.finished(Status.INTERNAL);
        call.emit('error', {
          code: Status.INTERNAL,
          details: `internal error: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    };
  }

  /**
   * The series of one method for a handler that is not a grpc-js handler
   * (the lean HTTP/2 handlers), every child bound once, so a call costs no
   * label lookup.
   */
  methodCounters(type: 'unary' | 'bidi_stream', service: string, method: string): MethodCounters {
    const labels = { grpc_type: type, grpc_service: service, grpc_method: method };
    return new MethodCounters(
      this.started.child(labels),
      this.received.child(labels),
      this.sent.child(labels),
      this.handling.labels(labels),
      this.handledCounters(labels),
    );
  }

  /** `grpc_server_handled_total` children for one method, created once per code. */
  private handledCounters(
    labels: Record<CallLabel, string>,
  ): (code: number) => BufferedCounterChild<CallLabel | 'grpc_code'> {
    const byCode = new Map<number, BufferedCounterChild<CallLabel | 'grpc_code'>>();
    return (code) => {
      let counter = byCode.get(code);
      if (counter === undefined) {
        counter = this.handled.child({ ...labels, grpc_code: grpcCodeName(code) });
        byCode.set(code, counter);
      }
      return counter;
    };
  }
}
