/**
 * How clients' reports of finished calls are read: the one place where the
 * gRPC status codes they carry (plain numbers, as on the wire) get a meaning
 * for the endpoint that answered.
 */

/** One call a client made with an answer of the lookaside, as the client reports it. */
export interface FinishedCall {
  /** The endpoint it went to, "ip:port" as the lookaside answered it. */
  readonly address: string;
  /** Its gRPC status code (0 = OK). */
  readonly code: number;
  /** From sending it to its status. */
  readonly latencyMicros: number;
  /** No call was made with the answer: it only stops counting as outstanding. */
  readonly notCalled?: boolean;
}

/**
 * Codes that say the endpoint failed the call rather than answered it, as
 * Envoy's gateway errors and gRPC's outlier detection see them:
 * UNKNOWN (2), DEADLINE_EXCEEDED (4), INTERNAL (13), UNAVAILABLE (14, also
 * what a refused or lost connection becomes) and DATA_LOSS (15). Every other
 * code (INVALID_ARGUMENT, NOT_FOUND, CANCELLED by the caller, …) is an answer.
 */
const ENDPOINT_FAILURE_CODES: ReadonlySet<number> = new Set([2, 4, 13, 14, 15]);

export function isEndpointFailure(code: number): boolean {
  return ENDPOINT_FAILURE_CODES.has(code);
}
