import { status as Status, type handleUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { Histogram, type Registry } from 'prom-client';

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

/** Sub-millisecond buckets first: a cache-served unary call takes tens of microseconds. */
const HANDLING_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type CallLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';

/**
 * Server-side call metrics with go-grpc-prometheus's names and labels, recorded
 * by wrapping each unary handler (cheaper than a generic interceptor).
 */
export class GrpcServerMetrics {
  private readonly started: BufferedCounter<CallLabel>;
  private readonly handled: BufferedCounter<CallLabel | 'grpc_code'>;
  private readonly handling: Histogram<CallLabel>;

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
  }

  /**
   * Wraps a unary handler so every call is counted and timed. A handler that
   * throws answers INTERNAL instead of taking the process down.
   */
  instrumentUnary<Request, Response>(
    service: string,
    method: string,
    handler: handleUnaryCall<Request, Response>,
  ): handleUnaryCall<Request, Response> {
    const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
    const started = this.started.child(labels);
    const timer = this.handling.labels(labels);
    const handledByCode = new Map<number, BufferedCounterChild<CallLabel | 'grpc_code'>>();
    const handledFor = (code: number): BufferedCounterChild<CallLabel | 'grpc_code'> => {
      let counter = handledByCode.get(code);
      if (counter === undefined) {
        counter = this.handled.child({ ...labels, grpc_code: grpcCodeName(code) });
        handledByCode.set(code, counter);
      }
      return counter;
    };
    return (call, callback) => {
      const startedAtMs = performance.now();
      started.inc();
      let answered = false;
      const answer: typeof callback = (error, value, trailer, flags) => {
        if (answered) return;
        answered = true;
        const code = error ? ((error as Partial<ServiceError>).code ?? Status.UNKNOWN) : Status.OK;
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
}
