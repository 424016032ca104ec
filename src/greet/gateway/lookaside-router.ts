import { status as Status } from '@grpc/grpc-js';

import type { Logger } from '../../common/logging.js';
import type { Timers } from '../../common/timers.js';
import type { GreetRequest } from '../api.js';
import type { ChannelPool } from './channel-pool.js';
import type { RecentAddresses } from './fallback.js';
import { GreetAttempts, hedgedOutcome, outcomeOf, type GreetAttempt } from './greet-attempts.js';
import type { StartedGreet } from './greet-client.js';
import { Hedging } from './hedging.js';
import type { ResolveResult } from './lookaside-client.js';
import { describeTrouble, lookasideReadiness, troubleKind, type FailedResolve, type LookasideState } from './lookaside-readiness.js';
import type { GatewayMetrics } from './metrics.js';
import { greetFailure, type GreetRouter, type Readiness, type RouteOutcome } from './router.js';

/** How often a degraded gateway asks the lookaside whether it is back. */
export const DEGRADED_PROBE_INTERVAL_MS = 500;
/** A retry asks the lookaside this many times for a pod other than the one that failed. */
const RESOLVES_FOR_ANOTHER_POD = 2;

/** The part of LookasideClient the router uses; a fake in tests. */
export interface Resolving {
  resolve(): Promise<ResolveResult>;
  /** How a Greet to `address` ended: its gRPC code, and how long it took. */
  report(address: string, code: number, latencyMicros: number): void;
  /** The lookaside answered `address` and no Greet was sent there. */
  notCalled(address: string): void;
  close(): void;
}

export interface LookasideRouterOptions<C> {
  readonly lookaside: Resolving;
  /** `namespace/name` of the greet Service, for callers' error messages. */
  readonly service: string;
  readonly pool: ChannelPool<C>;
  readonly fallback: RecentAddresses;
  readonly startGreet: (channel: C, request: GreetRequest, timeoutMs: number) => StartedGreet;
  readonly greetTimeoutMs: number;
  /** A Greet unanswered this long is hedged on another pod (0 = never); see Hedging. */
  readonly hedgeDelayMs: number;
  /** Injected by tests: the hedge timer (real, unref()ed timers otherwise)… */
  readonly timers?: Timers;
  /** …and the clock of a request's time budget (performance.now() otherwise: monotonic, unlike Timers' wall clock). */
  readonly now?: () => number;
  readonly fallbackMaxAgeMs: number;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly probeIntervalMs?: number;
}

type Pick = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly outcome: RouteOutcome };

/**
 * BALANCING=lookaside: Resolve, then Greet over the pooled channel to the pod
 * the lookaside chose. A pod that answers UNAVAILABLE gets the call retried
 * once on another pod; one that has not answered within the hedge delay gets
 * it hedged once on another pod (the first OK answer wins). A request makes
 * two attempts at most.
 */
export class LookasideRouter<C> implements GreetRouter {
  readonly mode = 'lookaside' as const;
  private state: LookasideState = 'connecting';
  /** While degraded: what the lookaside last did wrong. */
  private trouble: FailedResolve | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;

  private readonly attempts: GreetAttempts<C>;
  private readonly hedging: Hedging;
  private readonly now: () => number;

  constructor(private readonly options: LookasideRouterOptions<C>) {
    this.attempts = new GreetAttempts({ pool: options.pool, startGreet: options.startGreet, reports: options.lookaside, metrics: options.metrics });
    this.hedging = new Hedging(options.hedgeDelayMs, options.timers);
    this.now = options.now ?? (() => performance.now());
  }

  /** Asks the lookaside once, so /readyz knows whether it is reachable before the first request. */
  start(): void {
    void this.probe();
  }

  async greet(request: GreetRequest): Promise<RouteOutcome> {
    this.hedging.requestStarted();
    try {
      return await this.route(request);
    } finally {
      this.hedging.requestEnded();
    }
  }

  private async route(request: GreetRequest): Promise<RouteOutcome> {
    const first = await this.pick(undefined);
    if (!first.ok) return first.outcome;
    const startedMs = this.now();
    const attempt = this.attempts.start(first.address, request, this.options.greetTimeoutMs);
    const result = await this.hedging.resultOrHedge(attempt.result);
    if (result === 'hedge') return this.hedge(attempt, request, startedMs);
    if (result.ok) return { ok: true, response: result.response, address: first.address };
    if (result.code !== Status.UNAVAILABLE) return greetFailure(first.address, result.code, result.message);

    // The pod is gone or draining. Greet has no side effects, so sending it again is
    // safe even when the connection dropped after the pod had started on it.
    this.options.fallback.forget(first.address);
    this.options.metrics.countRetry();
    const second = await this.pick(first.address);
    if (!second.ok) {
      const why = second.outcome.ok ? '' : second.outcome.detail;
      return {
        ok: false,
        kind: 'no-backend',
        message: 'no greet server could take the call',
        detail: `greet server ${first.address}: ${result.message}; no other pod to retry on: ${why}`,
      };
    }
    const retried = await this.attempts.start(second.address, request, this.options.greetTimeoutMs).result;
    if (retried.ok) return { ok: true, response: retried.response, address: second.address };
    if (retried.code === Status.UNAVAILABLE) this.options.fallback.forget(second.address);
    return greetFailure(second.address, retried.code, `${retried.message} (after ${first.address} was unavailable)`);
  }

  /**
   * The first attempt has not answered within the hedge delay (a pod that
   * hangs, or froze): the same Greet goes to another pod, within what is
   * left of GREET_TIMEOUT_MS, and the first OK answer of the two wins.
   */
  private async hedge(first: GreetAttempt, request: GreetRequest, startedMs: number): Promise<RouteOutcome> {
    try {
      const second = await this.pick(first.address);
      const leftMs = this.options.greetTimeoutMs - (this.now() - startedMs);
      if (!second.ok) return outcomeOf(first.address, await first.result);
      if (leftMs < 1) {
        this.options.lookaside.notCalled(second.address);
        return outcomeOf(first.address, await first.result);
      }
      const hedge = this.attempts.start(second.address, request, Math.ceil(leftMs));
      this.options.metrics.countHedge();
      return await hedgedOutcome(first, hedge, (address) => this.options.fallback.forget(address));
    } finally {
      this.hedging.hedgeEnded();
    }
  }

  readiness(): Readiness {
    return lookasideReadiness({
      state: this.state,
      trouble: this.trouble,
      fallbackAddresses: this.options.fallback.usableCount(),
      fallbackMaxAgeMs: this.options.fallbackMaxAgeMs,
      channels: this.options.pool.size,
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.probeTimer);
    this.options.pool.close();
    this.options.lookaside.close();
  }

  /** The pod for the next call: the lookaside's choice, or the local rotation while degraded. */
  private async pick(exclude: string | undefined): Promise<Pick> {
    // Degraded with nothing to fall back on: asking costs little and may find the lookaside back.
    if (this.state !== 'degraded' || this.options.fallback.usableCount() === 0) {
      const asked = await this.askLookaside(exclude);
      if (typeof asked === 'object') return asked;
      if (asked === 'only-excluded') {
        // Under concurrency the shared rotation can hand one request the same pod every
        // time; another pod the lookaside returned recently is as good a choice.
        return this.fromFallback(exclude, 'no other greet server is known', `the lookaside knows no pod other than ${exclude ?? ''}`);
      }
    }
    const whyNone = `${describeTrouble(this.trouble)} and no ${exclude === undefined ? '' : 'other '}greet server was seen recently`;
    return this.fromFallback(exclude, whyNone, `${whyNone} (${this.trouble?.message ?? ''})`);
  }

  private fromFallback(exclude: string | undefined, whyNone: string, detail: string): Pick {
    const address = this.options.fallback.next(exclude);
    return address === undefined ? noBackend(whyNone, detail) : { ok: true, address };
  }

  /**
   * The lookaside's choice other than `exclude`; 'unreachable' when it cannot
   * be asked, 'only-excluded' when it kept answering `exclude`.
   */
  private async askLookaside(exclude: string | undefined): Promise<Pick | 'unreachable' | 'only-excluded'> {
    const attempts = exclude === undefined ? 1 : RESOLVES_FOR_ANOTHER_POD;
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const resolved = await this.resolve();
      if (!resolved.ok) {
        if (resolved.failure !== 'no-endpoints') return 'unreachable';
        return noBackend(this.noEndpoints(resolved), `lookaside: ${Status[resolved.code] ?? resolved.code}: ${resolved.message}`);
      }
      if (resolved.address !== exclude) return { ok: true, address: resolved.address };
      this.options.lookaside.notCalled(resolved.address);
    }
    return 'only-excluded';
  }

  private async resolve(): Promise<ResolveResult> {
    const startedMs = performance.now();
    const result = await this.options.lookaside.resolve();
    this.options.metrics.observeResolve((performance.now() - startedMs) / 1000, result.ok ? undefined : result.code);
    if (result.ok) this.options.fallback.seen(result.address);
    if (result.ok || result.failure === 'no-endpoints') this.markReachable();
    else this.markDegraded(result);
    return result;
  }

  /** What the caller hears when the lookaside says the Service has no endpoint to offer. */
  private noEndpoints(result: FailedResolve): string {
    return result.code === Status.NOT_FOUND
      ? `the lookaside knows no endpoints of Service ${this.options.service}`
      : `no endpoint of Service ${this.options.service} is ready`;
  }

  private markReachable(): void {
    if (this.state === 'reachable' || this.closed) return;
    const wasDegraded = this.state === 'degraded';
    this.state = 'reachable';
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.options.metrics.setDegraded(false);
    if (wasDegraded) this.options.logger.info('lookaside reachable again; balancing through it');
    else this.options.logger.info('lookaside reachable');
  }

  private markDegraded(trouble: FailedResolve): void {
    if (this.closed) return;
    const before = this.trouble;
    this.trouble = trouble;
    if (this.state === 'degraded') {
      // Logged again when the kind of trouble changes (not on every probe, nor between transport errors).
      if (before === undefined || troubleKind(before) !== troubleKind(trouble)) this.logTrouble('lookaside still unusable');
      return;
    }
    this.state = 'degraded';
    this.options.metrics.setDegraded(true);
    this.logTrouble(
      trouble.failure === 'unreachable'
        ? 'lookaside unreachable; degraded to local round robin over recently seen pods'
        : 'lookaside failing; degraded to local round robin over recently seen pods',
    );
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeIntervalMs ?? DEGRADED_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  private logTrouble(message: string): void {
    const { failure, code, message: reason } = this.trouble ?? {};
    const fallbackAddresses = this.options.fallback.usableCount();
    this.options.logger.warn({ failure, code: code === undefined ? undefined : Status[code], reason, fallbackAddresses }, message);
  }

  private async probe(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      const resolved = await this.resolve();
      if (resolved.ok) this.options.lookaside.notCalled(resolved.address);
    } finally {
      this.probing = false;
    }
  }
}

function noBackend(message: string, detail: string): Pick {
  return { ok: false, outcome: { ok: false, kind: 'no-backend', message, detail } };
}
