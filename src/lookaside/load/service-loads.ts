import type { Logger } from '../../common/logging.js';
import { serviceKeyString, type ServiceKey } from '../discovery/types.js';
import { StreamCallLedger, UnaryCallLeases, type CallLedger, type ReleasableLedger } from './call-ledger.js';
import type { LoadMetrics } from './load-metrics.js';
import type { OpenOrcaStream } from './orca-client.js';
import { OrcaStreams } from './orca-subscription.js';
import { ServiceLoad, type LoadConfig } from './service-load.js';

/** How often unary leases expire, due endpoints return, stalled ones are ejected and idle ORCA streams close, besides on demand. */
export const LOAD_SWEEP_INTERVAL_MS = 250;

/** What the gRPC edge needs to account for the calls it hands out and hears about. */
export interface CallAccounting {
  /** The ledger of unary Resolve. */
  readonly unaryLedger: CallLedger;
  /** A new ledger for a ResolveStream; released when the stream ends. */
  openStreamLedger(): ReleasableLedger;
  /** Counts one reported call by its gRPC code. */
  countResult(code: number): void;
}

export interface ServiceLoadsOptions {
  readonly config: LoadConfig;
  readonly logger: Logger;
  readonly metrics?: LoadMetrics;
  /** Opens ORCA streams; undefined means no weights (WEIGHTED_ROUND_ROBIN acts as round robin). */
  readonly openOrca?: OpenOrcaStream;
  /** A Service's ORCA streams close after this long with no weighted Resolve (IDLE_TIMEOUT_SECONDS). */
  readonly weightsIdleMs: number;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
  /** An endpoint was ejected here, for the other LB_WORKERS workers to adopt (`adoptEjection`). */
  readonly onEjected?: (key: ServiceKey, address: string, durationMs: number) => void;
}

/**
 * The per-endpoint state of every watched Service, keyed by Service: opened
 * when the Service is watched, closed when it is dropped. Also the ledgers of
 * the gRPC edge, and the sweep that keeps time-based state moving when no
 * Resolve comes.
 */
export class ServiceLoads implements CallAccounting {
  readonly unaryLedger: UnaryCallLeases;
  private readonly services = new Map<string, ServiceLoad>();
  private readonly orca: OrcaStreams | undefined;
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly options: ServiceLoadsOptions) {
    this.now = options.now ?? Date.now;
    this.unaryLedger = new UnaryCallLeases(options.config.callLeaseMs, this.now);
    const { weights } = options.config;
    this.orca = options.openOrca === undefined ? undefined : new OrcaStreams(options.openOrca, weights.reportIntervalMs, weights.maxStreams);
    options.metrics?.readFrom({ ejectedPerService: () => this.ejectedPerService(), orcaStreams: () => this.orca?.size ?? 0 });
    this.sweepTimer = setInterval(() => this.sweep(), LOAD_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** The state of a Service that starts being watched. */
  open(key: ServiceKey): ServiceLoad {
    const id = serviceKeyString(key);
    this.services.get(id)?.close();
    const load = new ServiceLoad(key, this.options.config, {
      now: this.now,
      logger: this.options.logger,
      orca: this.orca,
      onEjected: (ejectedKey, address, durationMs) => {
        this.options.metrics?.countEjection(ejectedKey);
        this.options.onEjected?.(ejectedKey, address, durationMs);
      },
    });
    this.services.set(id, load);
    return load;
  }

  /** Another LB_WORKERS worker ejected `address` of `key` for `durationMs`: out here too (see ServiceLoad.adoptEjection). */
  adoptEjection(key: ServiceKey, address: string, durationMs: number): void {
    this.services.get(serviceKeyString(key))?.adoptEjection(address, durationMs, this.now());
  }

  /** The Service is no longer watched: its state and ORCA streams go. */
  close(key: ServiceKey): void {
    const id = serviceKeyString(key);
    const load = this.services.get(id);
    if (load === undefined) return;
    load.close();
    this.services.delete(id);
    this.options.metrics?.serviceUnwatched(key);
  }

  get(key: ServiceKey): ServiceLoad | undefined {
    return this.services.get(serviceKeyString(key));
  }

  openStreamLedger(): ReleasableLedger {
    return new StreamCallLedger();
  }

  countResult(code: number): void {
    this.options.metrics?.countResult(code);
  }

  sweep(): void {
    const nowMs = this.now();
    this.unaryLedger.expire(nowMs);
    for (const load of this.services.values()) load.sweep(nowMs, this.options.weightsIdleMs);
  }

  closeAll(): void {
    clearInterval(this.sweepTimer);
    for (const load of this.services.values()) load.close();
    this.services.clear();
  }

  private *ejectedPerService(): Iterable<readonly [ServiceKey, number]> {
    const nowMs = this.now();
    for (const load of this.services.values()) {
      load.version(nowMs);
      yield [load.key, load.ejected];
    }
  }
}
