import type { Endpoint, ServiceKey, ServiceSnapshot } from '../discovery/types.js';
import type { CallLedger } from './call-ledger.js';
import { isEndpointFailure, type FinishedCall } from './call-outcome.js';
import { Ejections, type EjectionHooks } from './ejections.js';
import { EndpointLoad, type OpenCallTally } from './endpoint-load.js';
import type { HeldSubscription, OrcaStreams } from './orca-subscription.js';
import type { OutlierConfig } from './outlier.js';
import { schedulerWeights, type WeightConfig } from './weights.js';

export { STALL_CHECK_INTERVAL_MS } from './ejections.js';

export interface LoadConfig {
  readonly outlier: OutlierConfig;
  readonly weights: WeightConfig;
  /** Calls handed out by unary Resolve and never reported are released after this long. */
  readonly callLeaseMs: number;
}

export interface ServiceLoadHooks extends EjectionHooks {
  readonly now: () => number;
  /** Undefined: no ORCA, so no endpoint has a weight of its own. */
  readonly orca: OrcaStreams | undefined;
}

/**
 * The per-endpoint state of one watched Service, fed by the calls clients
 * report and by ORCA load reports, read by its pickers: outstanding calls,
 * ejections (decided by its Ejections), weights. Pickers built over it
 * check `version` and are rebuilt when the set of ejected endpoints changed.
 */
export class ServiceLoad {
  private readonly endpoints = new Map<string, EndpointLoad>();
  private readonly subscriptions = new Map<EndpointLoad, HeldSubscription>();
  /** Counts the calls open on its endpoints, including ones gone from the Service whose calls are still held. */
  private readonly tally: OpenCallTally = { open: 0 };
  /** The snapshot synced last, until the endpoints' state is first needed (`endpoints` is empty till then). */
  private pending: ServiceSnapshot | undefined;
  private made = false;
  private readonly ejections: Ejections;
  private weighted = false;
  private lastWeightedUseMs = 0;

  constructor(
    readonly key: ServiceKey,
    private readonly config: LoadConfig,
    private readonly hooks: ServiceLoadHooks,
  ) {
    this.ejections = new Ejections(key, this.endpoints, this.tally, config.outlier, hooks);
  }

  /**
   * Follows the Service's ready endpoints: state for new addresses, none kept
   * for those gone. The state is made when first needed (a reported call,
   * least request, weights, the debug view), so a Service whose clients report
   * nothing holds none: at 1,000 Services × 100 endpoints that is 37 MB of
   * heap, made and collected again while the Services are first resolved.
   */
  sync(snapshot: ServiceSnapshot): void {
    if (!this.made) {
      this.pending = snapshot;
      return;
    }
    this.syncEndpoints(snapshot);
  }

  /** Per-endpoint states held now; 0 until something needed them. */
  get statesHeld(): number {
    return this.endpoints.size;
  }

  private syncEndpoints(snapshot: ServiceSnapshot): void {
    const present = new Set<string>();
    for (const [portName, endpoints] of snapshot.readyByPort) {
      for (const endpoint of endpoints) {
        present.add(endpoint.address);
        const known = this.endpoints.get(endpoint.address);
        if (known !== undefined) {
          known.endpoint = endpoint;
          continue;
        }
        const load = new EndpointLoad(endpoint, portName, this.config.outlier, this.config.weights, this.hooks.now, this.tally);
        this.endpoints.set(endpoint.address, load);
        if (this.weighted) this.subscribe(load);
      }
    }
    for (const [address, load] of this.endpoints) {
      if (present.has(address)) continue;
      this.endpoints.delete(address);
      this.subscriptions.get(load)?.close();
      this.subscriptions.delete(load);
    }
    this.ejections.recount();
  }

  /** The clock everything here runs on. */
  now(): number {
    return this.hooks.now();
  }

  get weightUpdatePeriodMs(): number {
    return this.config.weights.updatePeriodMs;
  }

  endpoint(address: string): EndpointLoad | undefined {
    return this.make().get(address);
  }

  get size(): number {
    return this.make().size;
  }

  get ejected(): number {
    return this.ejections.ejected;
  }

  /** Calls handed out on its endpoints and not yet reported nor released, those of endpoints since gone included. */
  get openCalls(): number {
    return this.tally.open;
  }

  /** Changes whenever an endpoint is ejected or returns; returns that are due, and ejections of stalled endpoints, happen here. */
  version(nowMs: number): number {
    return this.ejections.version(nowMs);
  }

  /** `endpoints` without the ejected ones; all of them if that would leave none. */
  available(endpoints: readonly Endpoint[]): readonly Endpoint[] {
    if (this.ejections.ejected === 0) return endpoints;
    const kept = endpoints.filter((endpoint) => this.endpoints.get(endpoint.address)?.health.ejectedUntilMs === undefined);
    return kept.length > 0 ? kept : endpoints;
  }

  /** The state of each of `endpoints`, in order (each is one of the Service's ready endpoints). */
  loadsOf(endpoints: readonly Endpoint[]): EndpointLoad[] {
    const made = this.make();
    return endpoints.map((endpoint) => made.get(endpoint.address) ?? this.adopt(endpoint));
  }

  /** Applies one reported call: settles it in `ledger`, and ejects its endpoint if it now should be. */
  record(call: FinishedCall, ledger: CallLedger, nowMs: number): void {
    const load = this.make().get(call.address);
    if (load === undefined) return;
    ledger.settle(load);
    if (call.notCalled === true) return;
    const failed = isEndpointFailure(call.code);
    load.calls += 1;
    if (failed) load.failures += 1;
    // A failure answers nothing (a frozen pod's calls end by timing out); calls in flight when it was ejected say nothing of it now.
    if (!failed) load.answered(nowMs);
    if (load.health.ejectedUntilMs === undefined) load.noteLatency(call.latencyMicros, nowMs);
    const reason = load.health.record(failed, nowMs);
    if (reason !== undefined) this.ejections.eject(load, reason, nowMs);
  }

  /**
   * Another LB_WORKERS worker ejected `address` for `durationMs`: out of the
   * rotation here too, within the same maxEjectionPercent. Not reported
   * through `onEjected` (the other worker did), so it never echoes back.
   */
  adoptEjection(address: string, durationMs: number, nowMs: number): void {
    const load = this.make().get(address);
    if (load !== undefined) this.ejections.adopt(load, durationMs, nowMs);
  }

  /** A Resolve with WEIGHTED_ROUND_ROBIN: ORCA streams are opened to every endpoint on first use. */
  useWeights(nowMs: number): void {
    this.lastWeightedUseMs = nowMs;
    if (this.weighted) return;
    const made = this.make();
    this.weighted = true;
    for (const load of made.values()) this.subscribe(load);
  }

  /** The scheduler weights of `endpoints` now; undefined when fewer than two have one (plain round robin). */
  weightsOf(endpoints: readonly Endpoint[], nowMs: number): number[] | undefined {
    return schedulerWeights(this.loadsOf(endpoints).map((load) => load.weight.current(nowMs)));
  }

  /** Closes the ORCA streams once no weighted Resolve came for `idleMs`; they reopen on the next one. */
  sweep(nowMs: number, idleMs: number): void {
    this.version(nowMs);
    if (!this.weighted || nowMs - this.lastWeightedUseMs < idleMs) return;
    this.weighted = false;
    this.closeSubscriptions();
    this.hooks.logger.info({ namespace: this.key.namespace, service: this.key.name }, 'no weighted Resolve for a while: ORCA streams closed');
  }

  close(): void {
    this.weighted = false;
    this.closeSubscriptions();
  }

  /** Every endpoint's state, sorted by address, for the debug view. */
  all(): EndpointLoad[] {
    return [...this.make().values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  orcaState(load: EndpointLoad): string {
    if (!this.weighted) return 'off';
    return this.subscriptions.get(load)?.state ?? 'over MAX_ORCA_STREAMS';
  }

  /** The endpoints' state, made from the pending snapshot the first time it is needed. */
  private make(): Map<string, EndpointLoad> {
    if (!this.made) {
      this.made = true;
      const pending = this.pending;
      this.pending = undefined;
      if (pending !== undefined) this.syncEndpoints(pending);
    }
    return this.endpoints;
  }

  /** Never expected (pickers only hold ready endpoints, all synced): state for an endpoint sync has not seen. */
  private adopt(endpoint: Endpoint): EndpointLoad {
    const load = new EndpointLoad(endpoint, '', this.config.outlier, this.config.weights, this.hooks.now, this.tally);
    this.endpoints.set(endpoint.address, load);
    return load;
  }

  private subscribe(load: EndpointLoad): void {
    const held = this.hooks.orca?.subscribe(load.address, {
      onReport: (report) => load.weight.update(report, this.hooks.now()),
      onLost: () => load.weight.restart(),
    });
    if (held !== undefined) this.subscriptions.set(load, held);
  }

  private closeSubscriptions(): void {
    for (const held of this.subscriptions.values()) held.close();
    this.subscriptions.clear();
  }
}
