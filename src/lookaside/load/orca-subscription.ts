import { Backoff } from '../../common/backoff.js';
import type { OpenOrcaStream, OrcaStream } from './orca-client.js';
import type { LoadReport } from './weights.js';

/** The first wait before a lost ORCA stream is opened again; doubles on each failure in a row. */
export const ORCA_RETRY_INITIAL_MS = 1_000;
export const ORCA_RETRY_MAX_MS = 30_000;
/** An endpoint that answered UNIMPLEMENTED (no ORCA service) is asked again after this long. */
export const ORCA_UNSUPPORTED_RETRY_MS = 60_000;
/** gRPC's UNIMPLEMENTED, the answer of a server without the ORCA service. */
const UNIMPLEMENTED = 12;

export type OrcaState = 'connecting' | 'reporting' | 'unsupported' | 'retrying';

export interface OrcaSubscriptionHooks {
  readonly onReport: (report: LoadReport) => void;
  /** The stream ended: the weight it fed must wait out its blackout again. */
  readonly onLost: () => void;
}

/**
 * One endpoint's out-of-band ORCA stream, kept open until closed: reopened
 * with capped backoff when it fails, and only once a minute when the endpoint
 * has no ORCA service (its weight stays empty: it is balanced as the mean).
 */
export class OrcaSubscription {
  state: OrcaState = 'connecting';
  private stream: OrcaStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly backoff = new Backoff({ initialMs: ORCA_RETRY_INITIAL_MS, maxMs: ORCA_RETRY_MAX_MS });

  constructor(
    private readonly address: string,
    private readonly reportIntervalMs: number,
    private readonly open: OpenOrcaStream,
    private readonly hooks: OrcaSubscriptionHooks,
  ) {
    this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  private connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.state = 'connecting';
    const stream = this.open(this.address, this.reportIntervalMs, {
      report: (report) => {
        if (this.stream !== stream) return;
        this.state = 'reporting';
        this.backoff.reset();
        this.hooks.onReport(report);
      },
      end: (code) => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        this.hooks.onLost();
        this.state = code === UNIMPLEMENTED ? 'unsupported' : 'retrying';
        this.retryAfter(code === UNIMPLEMENTED ? ORCA_UNSUPPORTED_RETRY_MS : this.backoff.next());
      },
    });
    this.stream = stream;
  }

  private retryAfter(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.connect(), delayMs);
    this.timer.unref();
  }
}

/** A subscription as a Service holds it: closing it frees its place under the bound. */
export interface HeldSubscription {
  readonly state: OrcaState;
  close(): void;
}

/**
 * Every ORCA stream of the lookaside, at most `maxStreams` at once: an
 * endpoint past the bound gets no stream (and so no weight of its own).
 */
export class OrcaStreams {
  private openCount = 0;

  constructor(
    private readonly open: OpenOrcaStream,
    private readonly reportIntervalMs: number,
    private readonly maxStreams: number,
  ) {}

  get size(): number {
    return this.openCount;
  }

  /** A stream to `address`, or undefined when `maxStreams` are open. */
  subscribe(address: string, hooks: OrcaSubscriptionHooks): HeldSubscription | undefined {
    if (this.openCount >= this.maxStreams) return undefined;
    this.openCount += 1;
    const subscription = new OrcaSubscription(address, this.reportIntervalMs, this.open, hooks);
    let held = true;
    return {
      get state() {
        return subscription.state;
      },
      close: () => {
        if (!held) return;
        held = false;
        this.openCount -= 1;
        subscription.close();
      },
    };
  }
}
