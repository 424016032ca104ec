import { status as Status } from '@grpc/grpc-js';

import type { GreetRequest } from '../api.js';
import type { ChannelPool } from './channel-pool.js';
import type { GreetCallResult, StartedGreet } from './greet-client.js';
import type { GatewayMetrics } from './metrics.js';
import { greetFailure, type RouteOutcome } from './router.js';

/** What an attempt's end is told to the lookaside as (see Resolving in lookaside-router.ts). */
export interface AttemptReports {
  report(address: string, code: number, latencyMicros: number): void;
  notCalled(address: string): void;
}

/**
 * Why the gateway stopped waiting for an attempt before it ended:
 * - `late`: it did not answer within the hedge delay and the hedge answered
 *   first; the lookaside hears DEADLINE_EXCEEDED, a failure of that pod, so
 *   ejection learns of a pod that hangs.
 * - `unneeded`: a hedge the first attempt beat; the lookaside hears nothing
 *   of it but its release (it says nothing of its pod).
 */
export type Abandonment = 'late' | 'unneeded';

/** One Greet to one pod: its result once ended and reported. */
export interface GreetAttempt {
  readonly address: string;
  readonly result: Promise<GreetCallResult>;
  /** Cancels it; reported as `why` says unless it had ended already. */
  abandon(why: Abandonment): void;
}

export interface GreetAttemptsOptions<C> {
  readonly pool: ChannelPool<C>;
  readonly startGreet: (channel: C, request: GreetRequest, timeoutMs: number) => StartedGreet;
  readonly reports: AttemptReports;
  readonly metrics: GatewayMetrics;
}

/** Starts Greets over pooled channels and reports each, once, when it ends. */
export class GreetAttempts<C> {
  constructor(private readonly options: GreetAttemptsOptions<C>) {}

  start(address: string, request: GreetRequest, timeoutMs: number): GreetAttempt {
    const { pool, reports, metrics } = this.options;
    const entry = pool.acquire(address);
    const startedMs = performance.now();
    let abandoned: Abandonment | undefined;
    let started: StartedGreet;
    try {
      started = this.options.startGreet(entry.channel, request, timeoutMs);
    } catch (error) {
      pool.release(entry);
      throw error;
    }
    const result = started.result.then((ended) => {
      pool.release(entry);
      const latencyMicros = (performance.now() - startedMs) * 1000;
      if (!ended.ok && ended.code === Status.CANCELLED && abandoned === 'unneeded') {
        reports.notCalled(address);
        metrics.countBackendCall(address, Status.CANCELLED);
        return ended;
      }
      const code = ended.ok ? Status.OK : ended.code === Status.CANCELLED && abandoned === 'late' ? Status.DEADLINE_EXCEEDED : ended.code;
      // Every Greet, retries and hedges included: what the lookaside counts, ejects and balances by.
      reports.report(address, code, latencyMicros);
      metrics.countBackendCall(address, code);
      return ended;
    });
    return {
      address,
      result,
      abandon: (why) => {
        abandoned = why;
        started.cancel();
      },
    };
  }
}

/**
 * The first of two attempts to answer OK, or when neither does, the failure
 * of the one that ended last; the other is given up on (`late` if it is the
 * first attempt, `unneeded` if the hedge).
 */
export async function firstAnswer(
  first: GreetAttempt,
  hedge: GreetAttempt,
): Promise<{ readonly attempt: GreetAttempt; readonly result: GreetCallResult; readonly other: GreetCallResult | undefined }> {
  const tagged = (attempt: GreetAttempt) => attempt.result.then((result) => ({ attempt, result }));
  const winner = await Promise.race([tagged(first), tagged(hedge)]);
  const loser = winner.attempt === first ? hedge : first;
  if (winner.result.ok) {
    loser.abandon(loser === first ? 'late' : 'unneeded');
    return { attempt: winner.attempt, result: winner.result, other: undefined };
  }
  const last = await loser.result;
  return { attempt: loser, result: last, other: winner.result };
}

/**
 * What a hedged request answers: the first OK of the two attempts; when both
 * failed, a timeout if either timed out (the whole budget went: 504), else
 * the last failure. `forget` hears of each pod that answered UNAVAILABLE.
 */
export async function hedgedOutcome(first: GreetAttempt, hedge: GreetAttempt, forget: (address: string) => void): Promise<RouteOutcome> {
  const { attempt, result, other } = await firstAnswer(first, hedge);
  if (result.ok) return { ok: true, response: result.response, address: attempt.address };
  const ended = [
    { address: attempt.address, result },
    { address: attempt === first ? hedge.address : first.address, result: other },
  ];
  for (const one of ended) if (one.result?.ok === false && one.result.code === Status.UNAVAILABLE) forget(one.address);
  const timedOut = ended.find((one) => one.result?.ok === false && one.result.code === Status.DEADLINE_EXCEEDED);
  if (timedOut?.result?.ok === false) return greetFailure(timedOut.address, timedOut.result.code, `${timedOut.result.message} (hedged: ${first.address}, ${hedge.address})`);
  return outcomeOf(attempt.address, result);
}

export function outcomeOf(address: string, result: GreetCallResult): RouteOutcome {
  return result.ok ? { ok: true, response: result.response, address } : greetFailure(address, result.code, result.message);
}
