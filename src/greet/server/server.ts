import { Server, status as Status, type handleUnaryCall } from '@grpc/grpc-js';

import type { GrpcServerMetrics } from '../../common/grpc-metrics.js';
import { addReflection, HealthReporter, loadProtos, serviceConstructor } from '../../common/grpc.js';
import type { Logger } from '../../common/logging.js';
import { GREET_PROTO_FILES, GREET_SERVICE, type GreetRequest, type GreetResponse } from '../api.js';
import { checkName } from '../names.js';

/** Two names of 256 characters fit many times over; anything larger is not a real client. */
const MAX_REQUEST_BYTES = 16 * 1024;

export interface GreetServerOptions {
  readonly podName: string;
  readonly podIp: string;
  /** Added before every answer; 0 answers at once. */
  readonly delayMs: number;
  readonly grpcMetrics: GrpcServerMetrics;
  readonly logger: Logger;
}

/** The greeting text, exactly as the API promises it. */
export function greetingText(firstName: string, lastName: string, podName: string, podIp: string): string {
  return `Hello, ${firstName} ${lastName} from pod: name(${podName}), ip(${podIp}).`;
}

/**
 * The demo backend's gRPC edge: GreetService with health (NOT_SERVING until
 * the caller says otherwise) and reflection.
 */
export function createGreetServer(options: GreetServerOptions): { server: Server; health: HealthReporter } {
  const { packageDefinition, grpcObject } = loadProtos(GREET_PROTO_FILES);
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  const health = new HealthReporter([GREET_SERVICE]);
  server.addService(serviceConstructor(grpcObject, GREET_SERVICE).service, {
    Greet: options.grpcMetrics.instrumentUnary(GREET_SERVICE, 'Greet', greet(options)),
  });
  health.addToServer(server);
  addReflection(server, packageDefinition);
  return { server, health };
}

function greet(options: GreetServerOptions): handleUnaryCall<GreetRequest, GreetResponse> {
  return (call, callback) => {
    const { first_name: firstName, last_name: lastName } = call.request;
    const problem = checkName('first_name', firstName) ?? checkName('last_name', lastName);
    if (problem !== undefined) {
      options.logger.debug({ problem }, 'greet rejected');
      callback({ code: Status.INVALID_ARGUMENT, details: problem });
      return;
    }
    const response: GreetResponse = {
      result: greetingText(firstName, lastName, options.podName, options.podIp),
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
