import type { V1EndpointSlice } from '@kubernetes/client-node';

import { Backoff } from '../../common/backoff.js';
import type { Logger } from '../../common/logging.js';
import { describeApiError, type EndpointSliceApi, type WatchEventType, type WatchHandle } from './kubernetes-api.js';
import { mergeSlices } from './slices.js';
import type { DiscoveryState, ServiceKey } from './types.js';

/** A list that takes longer than this counts as failed (the server bounds it too). */
export const LIST_TIMEOUT_MS = 30_000;
/** Ask the server to end each watch after 5–10 minutes, as client-go does, so none hangs forever. */
const WATCH_TIMEOUT_MIN_SECONDS = 300;
/**
 * A watch that ends sooner than this without an error is treated as a failure
 * (no tight loops); one that stayed open this long resets the backoff.
 */
export const MIN_HEALTHY_WATCH_MS = 1_000;

/**
 * A watch that delivers nothing, not even a BOOKMARK, this long is reopened
 * from its resourceVersion over a new connection: one that went silent without
 * closing (a vanished peer, a black-holing proxy) would hang until a server-side
 * timeout that never comes. kube-apiserver bookmarks about every minute, but only
 * once its cache moved past the watch (cacher.go), so on a quiet cluster a
 * healthy watch is reopened too: one watch request, no list.
 */
export const WATCH_SILENCE_LIMIT_MS = 90_000;

export type RestartReason = 'expired' | 'error' | 'closed' | 'silent';

export interface ServiceWatchOptions {
  readonly api: EndpointSliceApi;
  readonly service: ServiceKey;
  readonly refreshIntervalMs: number;
  /** Restart a watch that delivered nothing for this long (default WATCH_SILENCE_LIMIT_MS). */
  readonly silenceLimitMs?: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly logger: Logger;
  readonly onState: (state: DiscoveryState) => void;
  readonly onRestart: (reason: RestartReason) => void;
  /** See FollowOptions: a first list with no slice is published, then nothing more is asked. */
  readonly endIfMissing?: boolean;
  readonly random?: () => number;
}

/**
 * Keeps one Service's EndpointSlices current: list, then watch from the list's
 * resourceVersion; a full re-list every refresh interval. Any failure (410 Gone,
 * a dropped stream, an HTTP error, a timeout) restarts it with capped, jittered
 * backoff while the last known slices stay published. A watch the server ended,
 * or one silent for the silence limit, is resumed from its resourceVersion.
 */
export class ServiceWatch {
  private readonly slices = new Map<string, V1EndpointSlice>();
  private readonly backoff: Backoff;
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  /** Bumped by every new list or watch; callbacks of older ones are dropped. */
  private generation = 0;
  private activeWatch: WatchHandle | undefined;
  /** When the current watch's stream opened; undefined while none is open. */
  private watchOpenedAtMs: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  /** When the current watch last showed a sign of life (sent, answered, an event or a BOOKMARK). */
  private lastHeardAtMs = 0;
  private publishScheduled = false;

  constructor(private readonly options: ServiceWatchOptions) {
    this.backoff = new Backoff({ ...options.backoff, random: options.random });
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.activeWatch?.abort();
    this.activeWatch = undefined;
    clearTimeout(this.retryTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.silenceTimer);
  }

  private get log(): Logger {
    return this.options.logger;
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    const generation = this.beginCycle();
    const { namespace, name } = this.options.service;
    let list;
    try {
      list = await withTimeout(
        this.options.api.list(namespace, name, LIST_TIMEOUT_MS / 1000),
        LIST_TIMEOUT_MS,
        `listing endpointslices took longer than ${LIST_TIMEOUT_MS} ms`,
      );
    } catch (error) {
      if (generation === this.generation) this.fail(error, 'error');
      return;
    }
    if (generation !== this.generation) return;

    this.slices.clear();
    for (const slice of list.items) this.slices.set(sliceName(slice), slice);
    this.resourceVersion = list.resourceVersion;
    const missing = !this.synced && list.items.length === 0 && this.options.endIfMissing === true;
    this.synced = true;
    this.publish();
    if (missing) return;
    this.scheduleRefresh();
    this.watch(generation);
  }

  private watch(generation: number): void {
    const { namespace, name } = this.options.service;
    const startedAtMs = Date.now();
    const timeoutSeconds = WATCH_TIMEOUT_MIN_SECONDS + Math.floor(this.random() * WATCH_TIMEOUT_MIN_SECONDS);
    this.lastHeardAtMs = startedAtMs;
    this.activeWatch = this.options.api.watch(
      { namespace, service: name, resourceVersion: this.resourceVersion, timeoutSeconds },
      {
        onOpen: () => {
          if (generation !== this.generation) return;
          this.watchOpenedAtMs = Date.now();
          this.lastHeardAtMs = this.watchOpenedAtMs;
        },
        onEvent: (type, object) => {
          if (generation !== this.generation) return;
          this.lastHeardAtMs = Date.now();
          this.onEvent(type, object);
        },
        onDone: (error) => {
          if (generation === this.generation) this.onWatchEnd(error, startedAtMs);
        },
      },
    );
    this.checkSilence(generation, this.silenceLimitMs);
  }

  /** Replaces the watch of `generation` once it has been silent for the silence limit. */
  private checkSilence(generation: number, inMs: number): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (generation !== this.generation) return;
      const silentMs = Date.now() - this.lastHeardAtMs;
      if (silentMs < this.silenceLimitMs) {
        this.checkSilence(generation, this.silenceLimitMs - silentMs);
        return;
      }
      this.options.onRestart('silent');
      const context = { ...this.labels(), silentMs, resourceVersion: this.resourceVersion };
      this.log.info(context, 'watch silent (no event, no BOOKMARK); watching again from its resourceVersion');
      this.watch(this.beginCycle());
    }, inMs);
    this.silenceTimer.unref();
  }

  private onEvent(type: WatchEventType, object: unknown): void {
    if (type === 'ERROR') {
      const status = object as { code?: number; message?: string } | undefined;
      if (status?.code === 410) {
        this.log.info({ ...this.labels(), message: status.message }, 'watch expired (410 Gone); re-listing');
        this.options.onRestart('expired');
        this.resourceVersion = '';
        void this.relist();
      } else {
        this.fail(new Error(`watch error event: ${status?.code ?? '?'} ${status?.message ?? ''}`), 'error');
      }
      return;
    }
    const slice = object as V1EndpointSlice;
    const version = slice?.metadata?.resourceVersion;
    if (version) this.resourceVersion = version;
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.slices.set(sliceName(slice), slice);
      this.publish();
    } else if (type === 'DELETED') {
      this.slices.delete(sliceName(slice));
      this.publish();
    }
  }

  private onWatchEnd(error: unknown, startedAtMs: number): void {
    this.activeWatch = undefined;
    if (error !== undefined) {
      this.fail(error, 'error');
    } else if (Date.now() - startedAtMs < MIN_HEALTHY_WATCH_MS) {
      this.fail(new Error('the watch closed right after it opened'), 'closed');
    } else {
      // The server ended a long watch (its timeout): carry on from where it stopped.
      this.watch(this.beginCycle());
    }
  }

  private fail(error: unknown, reason: RestartReason): void {
    if (this.stopped) return;
    const failure = describeApiError(error);
    this.beginCycle();
    const delayMs = this.backoff.next();
    this.options.onRestart(reason);
    this.log.warn(
      { ...this.labels(), reason, err: failure.message, retryInMs: delayMs, serving: this.synced ? 'last known' : 'nothing yet' },
      'endpointslice watch failed; retrying',
    );
    if (!this.synced) this.options.onState({ kind: 'failed', failure });
    if (this.stopped) return;
    clearTimeout(this.refreshTimer);
    this.retryTimer = setTimeout(() => void this.relist(), delayMs);
    this.retryTimer.unref();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const delayMs = Math.round(this.options.refreshIntervalMs * (0.9 + 0.2 * this.random()));
    this.refreshTimer = setTimeout(() => void this.relist(), delayMs);
    this.refreshTimer.unref();
  }

  /** Starts a new list/watch cycle: the previous watch is closed and its callbacks ignored. */
  private beginCycle(): number {
    // Only a watch that stayed up shows the API server is healthy: a list that
    // succeeds before a watch that fails at once must not reset the backoff.
    if (this.watchOpenedAtMs !== undefined && Date.now() - this.watchOpenedAtMs >= MIN_HEALTHY_WATCH_MS) {
      this.backoff.reset();
    }
    this.watchOpenedAtMs = undefined;
    this.generation++;
    this.activeWatch?.abort();
    this.activeWatch = undefined;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    return this.generation;
  }

  /** Coalesces a burst of events into one snapshot, delivered asynchronously. */
  private publish(): void {
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    setImmediate(() => {
      this.publishScheduled = false;
      if (this.stopped) return;
      this.options.onState({ kind: 'synced', snapshot: mergeSlices([...this.slices.values()]) });
    });
  }

  private labels(): { namespace: string; service: string } {
    return { namespace: this.options.service.namespace, service: this.options.service.name };
  }

  private get silenceLimitMs(): number {
    return this.options.silenceLimitMs ?? WATCH_SILENCE_LIMIT_MS;
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }
}

function sliceName(slice: V1EndpointSlice): string {
  return slice.metadata?.name ?? slice.metadata?.uid ?? '';
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
