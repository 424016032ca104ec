import type { EndpointLoad } from './endpoint-load.js';

/**
 * The calls handed out to one client, or to every unary client, and not yet
 * reported: what makes an endpoint's outstanding count (handed out minus
 * reported) come back down even when reports never arrive.
 */
export interface CallLedger {
  /** The lookaside handed out a call to `endpoint` to a client that will report it. */
  handOut(endpoint: EndpointLoad): void;
  /** The client reported a call to `endpoint`: released if this ledger holds one there. */
  settle(endpoint: EndpointLoad): void;
}

/** A ledger that lives as long as something else (a ResolveStream) and gives everything back when that ends. */
export interface ReleasableLedger extends CallLedger {
  /** Releases every call still held. */
  release(): void;
}

/**
 * The calls of one ResolveStream. Reports on the stream settle its own calls
 * only, so a report can never release another client's call; what the stream
 * never reported is released when it ends.
 */
export class StreamCallLedger implements ReleasableLedger {
  private readonly held = new Map<EndpointLoad, number>();

  handOut(endpoint: EndpointLoad): void {
    endpoint.callOpened();
    this.held.set(endpoint, (this.held.get(endpoint) ?? 0) + 1);
  }

  settle(endpoint: EndpointLoad): void {
    const count = this.held.get(endpoint);
    if (count === undefined) return;
    if (count === 1) this.held.delete(endpoint);
    else this.held.set(endpoint, count - 1);
    endpoint.callsClosed(1);
  }

  release(): void {
    for (const [endpoint, count] of this.held) endpoint.callsClosed(count);
    this.held.clear();
  }
}

/** Leases are kept in this many buckets of a quarter lease each (the last one still filling). */
const BUCKETS_PER_LEASE = 4;

interface LeaseBucket {
  readonly startMs: number;
  readonly held: Map<EndpointLoad, number>;
}

/**
 * The calls handed out by unary Resolve, which no stream scopes: a report on
 * any unary Resolve settles the oldest one held on that endpoint, and a call
 * never reported expires `leaseMs` to 1.25 × `leaseMs` after it was handed out.
 * Memory is a few buckets × endpoints, however many calls.
 */
export class UnaryCallLeases implements CallLedger {
  private readonly buckets: LeaseBucket[] = [];
  private readonly bucketMs: number;

  constructor(
    private readonly leaseMs: number,
    private readonly now: () => number,
  ) {
    this.bucketMs = Math.max(1, Math.ceil(leaseMs / BUCKETS_PER_LEASE));
  }

  handOut(endpoint: EndpointLoad): void {
    const nowMs = this.now();
    this.expire(nowMs);
    let bucket = this.buckets[this.buckets.length - 1];
    if (bucket === undefined || nowMs >= bucket.startMs + this.bucketMs) {
      bucket = { startMs: nowMs, held: new Map() };
      this.buckets.push(bucket);
    }
    endpoint.callOpened();
    bucket.held.set(endpoint, (bucket.held.get(endpoint) ?? 0) + 1);
  }

  settle(endpoint: EndpointLoad): void {
    for (const bucket of this.buckets) {
      const count = bucket.held.get(endpoint);
      if (count === undefined) continue;
      if (count === 1) bucket.held.delete(endpoint);
      else bucket.held.set(endpoint, count - 1);
      endpoint.callsClosed(1);
      return;
    }
  }

  /** Releases every bucket whose calls are all at least a lease old. */
  expire(nowMs: number = this.now()): void {
    for (;;) {
      const oldest = this.buckets[0];
      if (oldest === undefined || nowMs - (oldest.startMs + this.bucketMs) < this.leaseMs) return;
      this.buckets.shift();
      for (const [endpoint, count] of oldest.held) endpoint.callsClosed(count);
    }
  }
}

/** For a server wired without per-endpoint state: nothing is held, nothing counted. */
export const NO_LEDGER: ReleasableLedger = {
  handOut: () => undefined,
  settle: () => undefined,
  release: () => undefined,
};
