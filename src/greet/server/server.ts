import { Server, ServerMetricRecorder, status as Status, type handleUnaryCall, type sendUnaryData } from '@grpc/grpc-js';

import type { GrpcServerMetrics } from '../../common/grpc-metrics.js';
import { addReflection, HealthReporter, loadProtos, serviceConstructor } from '../../common/grpc.js';
import type { Logger } from '../../common/logging.js';
import { GREET_PROTO_FILES, GREET_SERVICE, type GreetRequest, type GreetResponse } from '../api.js';
import { checkName } from '../names.js';
import { LoadSampler } from './load-report.js';

/** Two names of 256 characters fit many times over; anything larger is not a real client. */
const MAX_REQUEST_BYTES = 16 * 1024;

export interface GreetServerOptions {
  readonly podName: string;
  readonly podIp: string;
  /** Said in every greeting as `version(<version>)` when not empty. */
  readonly version?: string;
  /** Added before every answer; 0 answers at once. */
  readonly delayMs: number;
  /** CPU burnt by every call before it is answered (blocking the thread, as CPU-bound work does); 0 = none. */
  readonly cpuMs?: number;
  /** Share of calls answered UNAVAILABLE at once (0 to 1). */
  readonly failRate?: number;
  /** Injectable for tests: decides which calls fail. */
  readonly random?: () => number;
  readonly grpcMetrics: GrpcServerMetrics;
  readonly logger: Logger;
}

export interface GreetServer {
  readonly server: Server;
  readonly health: HealthReporter;
  /** What the server's ORCA service reports; the caller starts and stops its sampling. */
  readonly load: LoadSampler;
}

/** The greeting text, exactly as the API promises it. */
export function greetingText(firstName: string, lastName: string, podName: string, podIp: string, version = ''): string {
  return `Hello, ${firstName} ${lastName} from pod: name(${podName}), ip(${podIp})${version === '' ? '' : `, version(${version})`}.`;
}

/**
 * The demo backend's gRPC edge: GreetService with health (NOT_SERVING until
 * the caller says otherwise), reflection, and ORCA out-of-band load reports
 * (its real CPU utilization, queries and errors per second).
 */
export function createGreetServer(options: GreetServerOptions): GreetServer {
  const { packageDefinition, grpcObject } = loadProtos(GREET_PROTO_FILES);
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  const health = new HealthReporter([GREET_SERVICE]);
  const recorder = new ServerMetricRecorder();
  const load = new LoadSampler({ recorder });
  server.addService(serviceConstructor(grpcObject, GREET_SERVICE).service, {
    Greet: options.grpcMetrics.instrumentUnary(GREET_SERVICE, 'Greet', greet(options, load)),
  });
  health.addToServer(server);
  recorder.addToServer(server);
  addReflection(server, packageDefinition);
  return { server, health, load };
}

function greet(options: GreetServerOptions, load: LoadSampler): handleUnaryCall<GreetRequest, GreetResponse> {
  const random = options.random ?? Math.random;
  const failRate = options.failRate ?? 0;
  const cpuMs = options.cpuMs ?? 0;
  return (call, answer) => {
    const callback: sendUnaryData<GreetResponse> = (error, value) => {
      // The caller's own cancellation is no error of the server's.
      load.callEnded(error !== null && error.code !== Status.CANCELLED);
      answer(error, value);
    };
    const { first_name: firstName, last_name: lastName } = call.request;
    const problem = checkName('first_name', firstName) ?? checkName('last_name', lastName);
    if (problem !== undefined) {
      options.logger.debug({ problem }, 'greet rejected');
      callback({ code: Status.INVALID_ARGUMENT, details: problem });
      return;
    }
    if (failRate > 0 && random() < failRate) {
      callback({ code: Status.UNAVAILABLE, details: `failing on purpose (GREET_FAIL_RATE=${failRate})` });
      return;
    }
    if (cpuMs > 0) burnCpu(cpuMs);
    const response: GreetResponse = {
      result: greetingText(firstName, lastName, options.podName, options.podIp, options.version),
      pod_name: options.podName,
      pod_ip: options.podIp,
    };
    if (options.delayMs === 0) {
      callback(null, response);
      return;
    }
    const timer = setTimeout(() => callback(null, response), options.delayMs);
    // A caller that gave up frees its timer, and the call is counted as cancelled.
    call.on('cancelled', () => {
      clearTimeout(timer);
      callback({ code: Status.CANCELLED, details: 'cancelled by the caller' });
    });
  };
}

/**
 * Keeps the thread busy until it has used `ms` of CPU time, as a CPU-bound
 * request would: counted in CPU time, not wall time, so a process the machine
 * descheduled still does the whole work (and takes longer for it).
 */
function burnCpu(ms: number): void {
  const startedAt = process.cpuUsage();
  const budgetMicros = ms * 1000;
  for (;;) {
    const used = process.cpuUsage(startedAt);
    if (used.user + used.system >= budgetMicros) return;
  }
}
