import { status as Status } from '@grpc/grpc-js';

import type { ResolveReason } from '../../common/resolve-reasons.js';

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

/** The lookaside's reasons (proto/lookaside/v1/lookaside.proto) that are answers about the Service's endpoints. */
// A route's backend without endpoints too: the spec says those calls fail, not that they go elsewhere.
const ABOUT_THE_ENDPOINTS: ReadonlySet<string> = new Set<ResolveReason>(['SERVICE_NOT_FOUND', 'NO_READY_ENDPOINTS', 'ROUTE_BACKEND_UNAVAILABLE']);

/**
 * Sorts an error the lookaside answered (a gRPC status it sent, with its
 * reason) into `no-endpoints` or `lookaside-fault`. Every other reason (and
 * any reason added later) is a fault: DISCOVERY_UNAVAILABLE and LOOKUPS_BUSY
 * are about the lookaside's own view of the API server, INVALID_REQUEST about a
 * question that was valid at start-up, so versions or configurations disagree.
 * A lookaside too old to send reasons ('') is judged by the code alone.
 */
export function classifyLookasideError(code: Status, reason: string): 'no-endpoints' | 'lookaside-fault' {
  if (reason !== '') return ABOUT_THE_ENDPOINTS.has(reason) ? 'no-endpoints' : 'lookaside-fault';
  return code === Status.NOT_FOUND || code === Status.UNAVAILABLE ? 'no-endpoints' : 'lookaside-fault';
}
