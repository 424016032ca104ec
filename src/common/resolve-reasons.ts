/**
 * Why a Resolve failed, in words a program can branch on: the `reason` of
 * ResolveStreamResponse, and of the google.rpc.ErrorInfo (domain
 * RESOLVE_ERROR_DOMAIN) a unary Resolve sends in `grpc-status-details-bin`.
 * Part of the API (proto/lookaside/v1/lookaside.proto lists them): names are
 * only ever added.
 */
export const RESOLVE_REASONS = [
  /** No EndpointSlice for the Service (or it is not in the endpoints file). NOT_FOUND. */
  'SERVICE_NOT_FOUND',
  /** The Service has slices, but no endpoint is ready on the port asked for. UNAVAILABLE. */
  'NO_READY_ENDPOINTS',
  /** A route (GRPCRoute) sends the call to a backend Service that does not exist or has no ready endpoint. UNAVAILABLE. */
  'ROUTE_BACKEND_UNAVAILABLE',
  /** The lookaside cannot learn the Service's endpoints now (API server unreachable or silent). UNAVAILABLE. */
  'DISCOVERY_UNAVAILABLE',
  /** The API server refuses the lookaside (RBAC). PERMISSION_DENIED. */
  'DISCOVERY_FORBIDDEN',
  /** The namespace is outside ALLOWED_NAMESPACES. PERMISSION_DENIED. */
  'NAMESPACE_NOT_ALLOWED',
  /** MAX_SERVICES Services are already watched. RESOURCE_EXHAUSTED. */
  'TOO_MANY_SERVICES',
  /** Too many new names are being looked up now; retry shortly. UNAVAILABLE. */
  'LOOKUPS_BUSY',
  /** A field is not valid (a name, a port name, a policy). INVALID_ARGUMENT. */
  'INVALID_REQUEST',
  /** The request could not be decoded, or was cut short. INVALID_ARGUMENT. */
  'MALFORMED_REQUEST',
  /** A fault of the lookaside's own. INTERNAL. */
  'INTERNAL',
] as const;

export type ResolveReason = (typeof RESOLVE_REASONS)[number];

/** ErrorInfo.domain of the lookaside's reasons. */
export const RESOLVE_ERROR_DOMAIN = 'lookaside.dev';

export function isResolveReason(text: string): text is ResolveReason {
  return (RESOLVE_REASONS as readonly string[]).includes(text);
}
