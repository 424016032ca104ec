import { status as Status } from '@grpc/grpc-js';

import type { GreetRequest, GreetResponse } from '../api.js';
import type { BalancingMode } from './config.js';

/**
 * Why a request could not be answered, independent of HTTP: the edge turns
 * each kind into a status code.
 */
export type RouteFailureKind =
  /** No greet server could take the call (none known, or all unavailable). */
  | 'no-backend'
  /** The greet server did not answer within GREET_TIMEOUT_MS. */
  | 'timeout'
  /** The greet server refused the request as invalid. */
  | 'rejected'
  /** The greet server failed in some other way. */
  | 'backend-error';

export type RouteOutcome =
  | { readonly ok: true; readonly response: GreetResponse; readonly address: string }
  | {
      readonly ok: false;
      readonly kind: RouteFailureKind;
      /** For the caller: short, with no pod address, file path or transport error. */
      readonly message: string;
      /** For the log: which pod, and what gRPC or the lookaside said. */
      readonly detail: string;
    };

export interface Readiness {
  /** Whether the gateway can route calls now. */
  readonly ready: boolean;
  /** One sentence for a person: why it is (not) ready. */
  readonly summary: string;
  /** What /readyz shows besides, e.g. whether the gateway is degraded. */
  readonly detail: Readonly<Record<string, unknown>>;
}

/** Sends one greeting to some greet server; one implementation per balancing mode. */
export interface GreetRouter {
  readonly mode: BalancingMode;
  /** Never rejects: failures come back as data. */
  greet(request: GreetRequest): Promise<RouteOutcome>;
  readiness(): Readiness;
  /** Closes every channel and timer. */
  close(): void;
}

/** Longest part of a greet server's own INVALID_ARGUMENT message passed on to the caller. */
const MAX_REJECTION_CHARACTERS = 200;

/** Turns a failed Greet call into a route failure. */
export function greetFailure(address: string, code: Status, message: string): RouteOutcome {
  const detail = `greet server ${address}: ${Status[code] ?? code}: ${message}`;
  switch (code) {
    case Status.DEADLINE_EXCEEDED:
      return { ok: false, kind: 'timeout', message: 'the greet server did not answer in time', detail };
    case Status.UNAVAILABLE:
      return { ok: false, kind: 'no-backend', message: 'no greet server could take the call', detail };
    case Status.INVALID_ARGUMENT:
      // The greet server's words about the request itself (checkName), meant for the caller.
      return { ok: false, kind: 'rejected', message: `the greet server refused the request: ${message.slice(0, MAX_REJECTION_CHARACTERS)}`, detail };
    default:
      return { ok: false, kind: 'backend-error', message: `the greet server failed the call (${Status[code] ?? code})`, detail };
  }
}
