import type { CompactSlice } from './compact-slices.js';
import type { WatchEvent } from './kubernetes-api.js';
import type { NamespaceSink } from './namespace-watch.js';
import { ServiceEndpoints } from './service-endpoints.js';
import type { DiscoveryFailure, DiscoveryState, ServiceSnapshot, Subscription } from './types.js';

interface Subscriber {
  readonly onState: (state: DiscoveryState) => void;
  readonly endIfMissing: boolean;
  /** The last snapshot delivered; undefined until the first. */
  last: ServiceSnapshot | undefined;
  /** Whether any state (a snapshot or a failure) has been delivered. */
  told: boolean;
  stopped: boolean;
}

/** A Service someone follows: its merged endpoints, built once the namespace is listed. */
interface Followed {
  readonly service: string;
  view: ServiceEndpoints | undefined;
  readonly subscribers: Set<Subscriber>;
}

/**
 * Every EndpointSlice of one namespace that belongs to a Service, kept
 * compact, and the Services followed in it. Slices of Services nobody follows
 * are only stored; a followed Service gets a ServiceEndpoints view, updated
 * slice by slice, and its subscribers get a snapshot when it changes (a burst
 * of events is delivered once, on the next turn of the event loop).
 *
 * Until its first list the namespace answers nothing, or the failure of the
 * last attempt. Afterwards a Service with no slice is missing, except while the
 * watch is failing: then what is held may be stale, and a subscriber that has
 * not had an answer yet gets the failure instead of a "missing".
 */
export class NamespaceSlices implements NamespaceSink {
  private readonly slices = new Map<string, CompactSlice>();
  private readonly byService = new Map<string, Map<string, CompactSlice>>();
  private readonly followed = new Map<string, Followed>();
  private readonly dirty = new Set<Followed>();
  private synced = false;
  /** Why the last list or watch failed, until a list succeeds again. */
  private failure: DiscoveryFailure | undefined;
  private flushScheduled = false;
  private subscriberCount = 0;

  /** @param onEmpty called when the last subscriber leaves */
  constructor(private readonly onEmpty: () => void) {}

  /** Slices held (of every Service in the namespace, followed or not). */
  get sliceCount(): number {
    return this.slices.size;
  }

  /** Follows `service`; its first state comes on a later turn of the event loop, never from inside this call. */
  subscribe(service: string, onState: (state: DiscoveryState) => void, endIfMissing: boolean): Subscription {
    let followed = this.followed.get(service);
    if (followed === undefined) {
      followed = { service, view: this.synced ? this.viewOf(service) : undefined, subscribers: new Set() };
      this.followed.set(service, followed);
    }
    const subscriber: Subscriber = { onState, endIfMissing, last: undefined, told: false, stopped: false };
    followed.subscribers.add(subscriber);
    this.subscriberCount++;
    const entry = followed;
    setImmediate(() => {
      if (subscriber.stopped || subscriber.told) return;
      if (entry.view !== undefined) this.deliver(entry, subscriber, entry.view.snapshot());
      else if (this.failure !== undefined) this.fail(subscriber, this.failure);
    });
    return { stop: () => this.unsubscribe(entry, subscriber) };
  }

  listed(slices: readonly CompactSlice[]): void {
    const listedNames = new Set<string>();
    for (const slice of slices) {
      listedNames.add(slice.name);
      const known = this.slices.get(slice.name);
      if (known === undefined || known.resourceVersion !== slice.resourceVersion || known.service !== slice.service) this.put(slice);
    }
    for (const name of [...this.slices.keys()]) {
      if (!listedNames.has(name)) this.delete(name);
    }
    this.synced = true;
    this.failure = undefined;
    for (const [service, followed] of this.followed) {
      followed.view ??= this.viewOf(service);
      this.dirty.add(followed);
    }
    this.flush();
  }

  changed(event: Extract<WatchEvent, { type: 'ADDED' | 'MODIFIED' | 'DELETED' }>): void {
    if (event.type === 'DELETED') this.delete(event.name);
    else this.put(event.item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  failed(failure: DiscoveryFailure): void {
    this.failure = failure;
    for (const followed of [...this.followed.values()]) {
      const missing = followed.view === undefined || followed.view.sliceCount === 0;
      if (!missing) continue;
      for (const subscriber of [...followed.subscribers]) {
        if (subscriber.last === undefined && !subscriber.stopped) this.fail(subscriber, failure);
      }
    }
  }

  private put(slice: CompactSlice): void {
    const known = this.slices.get(slice.name);
    if (known !== undefined && known.service !== slice.service) this.delete(slice.name);
    this.slices.set(slice.name, slice);
    let ofService = this.byService.get(slice.service);
    if (ofService === undefined) {
      ofService = new Map();
      this.byService.set(slice.service, ofService);
    }
    ofService.set(slice.name, slice);
    this.touch(slice.service, slice.name, slice);
  }

  private delete(name: string): void {
    const known = this.slices.get(name);
    if (known === undefined) return;
    this.slices.delete(name);
    const ofService = this.byService.get(known.service);
    ofService?.delete(name);
    if (ofService?.size === 0) this.byService.delete(known.service);
    this.touch(known.service, name, undefined);
  }

  private touch(service: string, name: string, slice: CompactSlice | undefined): void {
    const followed = this.followed.get(service);
    if (followed?.view === undefined) return;
    followed.view.apply(name, slice);
    this.dirty.add(followed);
  }

  private viewOf(service: string): ServiceEndpoints {
    return new ServiceEndpoints(this.byService.get(service)?.values());
  }

  /** Delivers each changed Service's snapshot to its subscribers. */
  private flush(): void {
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const followed of dirty) {
      if (followed.view === undefined) continue;
      const snapshot = followed.view.snapshot();
      for (const subscriber of [...followed.subscribers]) this.deliver(followed, subscriber, snapshot);
    }
  }

  private deliver(followed: Followed, subscriber: Subscriber, snapshot: ServiceSnapshot): void {
    if (subscriber.stopped || subscriber.last === snapshot) return;
    const first = subscriber.last === undefined;
    if (first && snapshot.sliceCount === 0 && this.failure !== undefined) {
      this.fail(subscriber, this.failure);
      return;
    }
    subscriber.last = snapshot;
    subscriber.told = true;
    subscriber.onState({ kind: 'synced', snapshot });
    if (first && snapshot.sliceCount === 0 && subscriber.endIfMissing) this.unsubscribe(followed, subscriber);
  }

  private fail(subscriber: Subscriber, failure: DiscoveryFailure): void {
    subscriber.told = true;
    subscriber.onState({ kind: 'failed', failure });
  }

  private unsubscribe(followed: Followed, subscriber: Subscriber): void {
    if (subscriber.stopped) return;
    subscriber.stopped = true;
    followed.subscribers.delete(subscriber);
    if (followed.subscribers.size === 0) {
      // Nobody follows the Service any more: its view goes, its slices stay stored.
      if (this.followed.get(followed.service) === followed) this.followed.delete(followed.service);
      this.dirty.delete(followed);
    }
    if (--this.subscriberCount === 0) this.onEmpty();
  }
}
