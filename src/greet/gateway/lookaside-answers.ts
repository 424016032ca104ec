import { status as Status } from '@grpc/grpc-js';

/**
 * Why Resolve gave no address, which decides what the gateway does next:
 * - `no-endpoints`: the lookaside answered about the Service's endpoints
 *   (no such Service, or none of its endpoints ready). That is the answer:
 *   the request fails (503), and recently seen pods are not used instead,
 *   because the lookaside knows they should not take calls.
 * - `unreachable`: the lookaside could not be asked (down, too slow, the
 *   connection broke).
 * - `lookaside-fault`: the lookaside answered, but not about the Service's
 *   endpoints: it cannot serve this gateway now (RESOURCE_EXHAUSTED when it
 *   watches MAX_SERVICES others, PERMISSION_DENIED, INTERNAL, …).
 * The last two degrade the gateway alike: local round robin over recently
 * seen pods, and /readyz says so.
 */
export type ResolveFailure = 'no-endpoints' | 'unreachable' | 'lookaside-fault';

/**
 * How the lookaside (src/lookaside/resolver.ts) says that a Service has
 * EndpointSlices but no ready endpoint; pinned by the "none ready" test in
 * test/e2e/greet/gateway-input.test.ts. Its other UNAVAILABLE answers
 * ("cannot read endpoints", "not known yet") are about its own view of the
 * API server, not about the Service.
 */
const NO_READY_ENDPOINT = /has no ready endpoint|declare no ports/;

/** Sorts an error the lookaside answered (a gRPC status it sent) into `no-endpoints` or `lookaside-fault`. */
export function classifyLookasideError(code: Status, message: string): 'no-endpoints' | 'lookaside-fault' {
  if (code === Status.NOT_FOUND) return 'no-endpoints';
  if (code === Status.UNAVAILABLE && NO_READY_ENDPOINT.test(message)) return 'no-endpoints';
  // INVALID_ARGUMENT too: the question is fixed at start-up and was valid then,
  // so the lookaside refusing it is a mismatch of versions or of configuration.
  return 'lookaside-fault';
}
