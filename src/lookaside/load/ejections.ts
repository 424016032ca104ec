import type { Logger } from '../../common/logging.js';
import type { ServiceKey } from '../discovery/types.js';
import type { EndpointLoad, OpenCallTally } from './endpoint-load.js';
import { STALL_LATENCY_MULTIPLE, STALL_MIN_OPEN_CALLS, type EjectionReason, type OutlierConfig } from './outlier.js';

/** Stalled endpoints are looked for at most this often on Resolves (and at every sweep). */
export const STALL_CHECK_INTERVAL_MS = 100;

export interface EjectionHooks {
  readonly logger: Logger;
  /** An endpoint was ejected here (not adopted from another worker), for `durationMs`. */
  readonly onEjected: (key: ServiceKey, address: string, durationMs: number) => void;
}

/**
 * Which endpoints of one Service are out of rotation: each endpoint's
 * EndpointHealth says when it should go, this decides whether it may (at most
 * maxEjectionPercent of the endpoints, never all), brings endpoints back when
 * their time is up, and finds stalled ones. `version` changes whenever the set
 * of ejected endpoints does, so pickers know to rebuild.
 */
export class Ejections {
  private ejectedCount = 0;
  private nextReturnAtMs = Number.POSITIVE_INFINITY;
  private nextStallCheckMs = 0;
  private changes = 0;

  /**
   * @param endpoints the Service's endpoint states, kept by its ServiceLoad and read here
   * @param tally the calls open on them
   */
  constructor(
    private readonly key: ServiceKey,
    private readonly endpoints: ReadonlyMap<string, EndpointLoad>,
    private readonly tally: OpenCallTally,
    private readonly outlier: OutlierConfig,
    private readonly hooks: EjectionHooks,
  ) {}

  get ejected(): number {
    return this.ejectedCount;
  }

  /** Brings back the endpoints whose time is up and ejects a stalled one, then tells the version of the ejected set. */
  version(nowMs: number): number {
    if (nowMs >= this.nextReturnAtMs) this.returnDue(nowMs);
    if (nowMs >= this.nextStallCheckMs) this.ejectStalled(nowMs);
    return this.changes;
  }

  /** Ejects `load` for the reason its health gave, if there is room. */
  eject(load: EndpointLoad, reason: EjectionReason, nowMs: number): void {
    const log = { namespace: this.key.namespace, service: this.key.name, address: load.address, reason };
    if (!this.roomToEject(nowMs)) {
      this.hooks.logger.debug({ ...log, ejected: this.ejectedCount }, 'endpoint not ejected: as many as allowed are out already');
      return;
    }
    const durationMs = load.health.eject(nowMs);
    this.countEjected(nowMs + durationMs);
    this.hooks.onEjected(this.key, load.address, durationMs);
    this.hooks.logger.info({ ...log, ejectedForMs: durationMs, ejections: load.health.ejections }, 'endpoint ejected');
  }

  /** Ejects `load` for `durationMs` as another worker did, if it is in rotation and there is room; not reported through `onEjected`. */
  adopt(load: EndpointLoad, durationMs: number, nowMs: number): void {
    if (load.health.ejectedUntilMs !== undefined || !this.roomToEject(nowMs)) return;
    load.health.ejectUntil(nowMs + durationMs, nowMs);
    this.countEjected(nowMs + durationMs);
    this.hooks.logger.info({ namespace: this.key.namespace, service: this.key.name, address: load.address, ejectedForMs: durationMs }, 'endpoint ejected by another worker');
  }

  /** Counts the ejected endpoints again, after endpoints came or went. */
  recount(): void {
    let count = 0;
    let nextReturnAtMs = Number.POSITIVE_INFINITY;
    for (const load of this.endpoints.values()) {
      const until = load.health.ejectedUntilMs;
      if (until === undefined) continue;
      count += 1;
      nextReturnAtMs = Math.min(nextReturnAtMs, until);
    }
    if (count !== this.ejectedCount) this.changes += 1;
    this.ejectedCount = count;
    this.nextReturnAtMs = nextReturnAtMs;
  }

  /**
   * Ejects the endpoint whose open calls have gone unanswered far longer than
   * its calls take, when the silence is its own: it has several calls open
   * (one call a paused client has not reported yet looks the same), and no
   * other endpoint of the Service is silent too (several at once: more likely
   * their clients went quiet than the pods froze together).
   */
  private ejectStalled(nowMs: number): void {
    this.nextStallCheckMs = nowMs + STALL_CHECK_INTERVAL_MS;
    const { stalledCallsMs } = this.outlier;
    // No call open: none can be stalled, so no scan. This runs on a Resolve of
    // each Service and every sweep over all of them: at 1,000 Services × 100
    // endpoints the scans took about 5% of the lookaside's CPU (bench-scale).
    if (stalledCallsMs === 0 || this.tally.open === 0) return;
    let stalled: EndpointLoad | undefined;
    for (const load of this.endpoints.values()) {
      if (load.health.ejectedUntilMs !== undefined || load.stalledMs(nowMs) < stalledCallsMs) continue;
      if (stalled !== undefined) return;
      stalled = load;
    }
    if (stalled === undefined || stalled.latencyMicros === undefined || stalled.outstanding < STALL_MIN_OPEN_CALLS) return;
    if (stalled.stalledMs(nowMs) >= (STALL_LATENCY_MULTIPLE * stalled.latencyMicros) / 1000) this.eject(stalled, 'stalled', nowMs);
  }

  /** Whether one more endpoint may be ejected now, once those whose time is up are back. */
  private roomToEject(nowMs: number): boolean {
    if (nowMs >= this.nextReturnAtMs) this.returnDue(nowMs);
    return this.ejectedCount < this.maxEjected();
  }

  /** At most maxEjectionPercent of the endpoints, rounded up, and never all of them. */
  private maxEjected(): number {
    const count = this.endpoints.size;
    return Math.min(count - 1, Math.ceil((count * this.outlier.maxEjectionPercent) / 100));
  }

  /** One more endpoint is out, until `untilMs`. */
  private countEjected(untilMs: number): void {
    this.ejectedCount += 1;
    this.nextReturnAtMs = Math.min(this.nextReturnAtMs, untilMs);
    this.changes += 1;
  }

  private returnDue(nowMs: number): void {
    this.nextReturnAtMs = Number.POSITIVE_INFINITY;
    for (const load of this.endpoints.values()) {
      const until = load.health.ejectedUntilMs;
      if (until === undefined) continue;
      if (until > nowMs) {
        this.nextReturnAtMs = Math.min(this.nextReturnAtMs, until);
        continue;
      }
      load.health.returnToRotation();
      this.hooks.logger.info({ namespace: this.key.namespace, service: this.key.name, address: load.address }, 'endpoint back in rotation');
    }
    this.recount();
  }
}
