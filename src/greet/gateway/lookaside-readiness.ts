import { status as Status } from '@grpc/grpc-js';

import type { ResolveResult } from './lookaside-client.js';
import type { Readiness } from './router.js';

/**
 * - `connecting`: no answer from the lookaside yet.
 * - `reachable`: every request asks the lookaside.
 * - `degraded`: the lookaside cannot be asked, or answers with faults of its
 *   own (see ResolveFailure); requests rotate over recently seen addresses
 *   while a probe waits for the lookaside to come back.
 */
export type LookasideState = 'connecting' | 'reachable' | 'degraded';

export type FailedResolve = Extract<ResolveResult, { ok: false }>;

export interface LookasideView {
  readonly state: LookasideState;
  /** While degraded: what the lookaside last did wrong. */
  readonly trouble: FailedResolve | undefined;
  readonly fallbackAddresses: number;
  readonly fallbackMaxAgeMs: number;
  readonly channels: number;
}

/** What /readyz says of a gateway in BALANCING=lookaside. */
export function lookasideReadiness(view: LookasideView): Readiness {
  const { state, channels, fallbackAddresses } = view;
  if (state === 'reachable') {
    return {
      ready: true,
      summary: 'the lookaside is reachable',
      detail: { mode: 'lookaside', lookaside: 'reachable', degraded: false, channels },
    };
  }
  if (state === 'connecting') {
    return {
      ready: false,
      summary: 'no answer from the lookaside yet',
      detail: { mode: 'lookaside', lookaside: 'connecting', degraded: false, channels },
    };
  }
  const trouble = describeTrouble(view.trouble);
  return {
    ready: fallbackAddresses > 0,
    summary:
      fallbackAddresses > 0
        ? `${trouble}; balancing locally over ${fallbackAddresses} recently seen pod(s)`
        : `${trouble} and no pod was seen in the last ${view.fallbackMaxAgeMs} ms`,
    detail: {
      mode: 'lookaside',
      lookaside: view.trouble?.failure === 'lookaside-fault' ? 'failing' : 'unreachable',
      degraded: true,
      reason: trouble,
      fallback_addresses: fallbackAddresses,
      channels,
    },
  };
}

export function troubleKind(trouble: FailedResolve): string {
  return trouble.failure === 'unreachable' ? 'unreachable' : String(trouble.code);
}

/** The lookaside's trouble in a few words, for callers and /readyz: the code, not its message. */
export function describeTrouble(trouble: FailedResolve | undefined): string {
  if (trouble === undefined) return 'the lookaside is unreachable';
  const code = Status[trouble.code] ?? String(trouble.code);
  return trouble.failure === 'unreachable' ? `the lookaside is unreachable (${code})` : `the lookaside answers ${code}`;
}
