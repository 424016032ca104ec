import { Backoff } from '../../common/backoff.js';
import type { Logger } from '../../common/logging.js';
import type { CompactSlice } from './compact-slices.js';
import { describeApiError, type ListedObject, type ListWatchApi, type WatchEvent, type WatchHandle } from './kubernetes-api.js';
import type { DiscoveryFailure } from './types.js';

/** A list page that takes longer than this counts as failed (the server bounds it too). */
export const LIST_TIMEOUT_MS = 30_000;
/**
 * Slices per list page. EndpointSlices hold up to 100 endpoints by default,
 * so a page is about 1.2 MB of JSON at most: the memory a list needs at once
 * and the time its parse blocks the event loop stay small however large the
 * namespace (client-go's reflector pages by 500; measured at 1,000 Services ×
 * 100 endpoints, pages of 50 rather than 100 kept 5 MB less RSS).
 */
export const LIST_PAGE_SIZE = 50;
/** Ask the server to end each watch after 5–10 minutes, as client-go does, so none hangs forever. */
const WATCH_TIMEOUT_MIN_SECONDS = 300;
/**
 * A watch that ends sooner than this without an error is treated as a failure
 * (no tight loops); one that stayed open this long resets the backoff.
 */
export const MIN_HEALTHY_WATCH_MS = 1_000;

/**
 * A watch that delivers nothing, not even a BOOKMARK, this long is reopened
 * from its resourceVersion: one that went silent without closing (a vanished
 * peer, a black-holing proxy) would hang until a server-side timeout that
 * never comes. kube-apiserver bookmarks about every minute, but only once its
 * cache moved past the watch (cacher.go), so on a quiet cluster a healthy
 * watch is reopened too: one watch request, no list.
 */
export const WATCH_SILENCE_LIMIT_MS = 90_000;

export type RestartReason = 'expired' | 'error' | 'closed' | 'silent';

/** Where a namespace watch delivers what it learns. */
export interface NamespaceSink<Item extends ListedObject = CompactSlice> {
  /** A complete list: every object of the namespace now, replacing what was known. */
  listed(items: readonly Item[]): void;
  changed(event: Extract<WatchEvent<Item>, { type: 'ADDED' | 'MODIFIED' | 'DELETED' }>): void;
  /** A list or watch failed; a retry is planned. */
  failed(failure: DiscoveryFailure): void;
}

export interface NamespaceWatchOptions<Item extends ListedObject = CompactSlice> {
  readonly api: ListWatchApi<Item>;
  readonly namespace: string;
  readonly refreshIntervalMs: number;
  /** Restart a watch that delivered nothing for this long (default WATCH_SILENCE_LIMIT_MS). */
  readonly silenceLimitMs?: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly logger: Logger;
  readonly sink: NamespaceSink<Item>;
  readonly onRestart: (reason: RestartReason) => void;
  readonly pageSize?: number;
  readonly random?: () => number;
  /** The clock (default Date.now) for how long a watch stayed open and how long it has been silent. */
  readonly now?: () => number;
}

/**
 * Keeps one namespace's EndpointSlices (those of a Service) current: a
 * paginated list, then a watch from the list's resourceVersion; a full re-list
 * every refresh interval. Any failure (410 Gone, a dropped stream, an HTTP
 * error, a timeout) restarts it with capped, jittered backoff while the last
 * known slices stay in the sink. A watch the server ended, or one silent for
 * the silence limit, is resumed from its resourceVersion. Stopping it from
 * inside `listed` (nobody follows the namespace any more) opens no watch.
 */
export class NamespaceWatch<Item extends ListedObject = CompactSlice> {
  private readonly backoff: Backoff;
  private resourceVersion = '';
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

  constructor(private readonly options: NamespaceWatchOptions<Item>) {
    this.backoff = new Backoff({ ...options.backoff, random: options.random });
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.abandonCycle();
    clearTimeout(this.refreshTimer);
  }

  private get log(): Logger {
    return this.options.logger;
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    const generation = this.beginCycle();
    const slices: Item[] = [];
    let resourceVersion: string;
    try {
      let continueToken = '';
      do {
        const page = await this.options.api.listPage({
          namespace: this.options.namespace,
          limit: this.options.pageSize ?? LIST_PAGE_SIZE,
          continueToken,
          timeoutSeconds: LIST_TIMEOUT_MS / 1000,
        });
        if (generation !== this.generation) return;
        for (const slice of page.items) slices.push(slice);
        resourceVersion = page.resourceVersion;
        continueToken = page.continueToken;
      } while (continueToken !== '');
    } catch (error) {
      if (generation === this.generation) this.fail(error, 'error');
      return;
    }
    if (generation !== this.generation) return;
    this.resourceVersion = resourceVersion;
    this.options.sink.listed(slices);
    if (this.stopped) return;
    this.scheduleRefresh();
    this.watch(generation);
  }

  private watch(generation: number): void {
    const startedAtMs = this.now();
    const timeoutSeconds = WATCH_TIMEOUT_MIN_SECONDS + Math.floor(this.random() * WATCH_TIMEOUT_MIN_SECONDS);
    this.lastHeardAtMs = startedAtMs;
    this.activeWatch = this.options.api.watch(
      { namespace: this.options.namespace, resourceVersion: this.resourceVersion, timeoutSeconds },
      {
        onOpen: () => {
          if (generation !== this.generation) return;
          this.watchOpenedAtMs = this.now();
          this.lastHeardAtMs = this.watchOpenedAtMs;
        },
        onEvent: (event) => {
          if (generation !== this.generation) return;
          this.lastHeardAtMs = this.now();
          this.onEvent(event);
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
      const silentMs = this.now() - this.lastHeardAtMs;
      if (silentMs < this.silenceLimitMs) {
        this.checkSilence(generation, this.silenceLimitMs - silentMs);
        return;
      }
      this.options.onRestart('silent');
      const context = { namespace: this.options.namespace, silentMs, resourceVersion: this.resourceVersion };
      this.log.info(context, 'watch silent (no event, no BOOKMARK); watching again from its resourceVersion');
      this.watch(this.beginCycle());
    }, inMs);
    this.silenceTimer.unref();
  }

  private onEvent(event: WatchEvent<Item>): void {
    if (event.type === 'ERROR') {
      if (event.code === 410) {
        this.log.info({ namespace: this.options.namespace, message: event.message }, 'watch expired (410 Gone); re-listing');
        this.options.onRestart('expired');
        this.resourceVersion = '';
        void this.relist();
      } else {
        this.fail(new Error(`watch error event: ${event.code ?? '?'} ${event.message}`), 'error');
      }
      return;
    }
    if (event.type === 'BOOKMARK') {
      if (event.resourceVersion !== '') this.resourceVersion = event.resourceVersion;
      return;
    }
    const version = event.type === 'DELETED' ? event.resourceVersion : event.item.resourceVersion;
    if (version !== '') this.resourceVersion = version;
    this.options.sink.changed(event);
  }

  private onWatchEnd(error: unknown, startedAtMs: number): void {
    this.activeWatch = undefined;
    if (error !== undefined) {
      this.fail(error, 'error');
    } else if (this.now() - startedAtMs < MIN_HEALTHY_WATCH_MS) {
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
      { namespace: this.options.namespace, reason, err: failure.message, retryInMs: delayMs },
      `${(this.options.api.resource ?? 'endpointslices').replace(/s$/, '')} watch failed; retrying`,
    );
    this.options.sink.failed(failure);
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
    if (this.watchOpenedAtMs !== undefined && this.now() - this.watchOpenedAtMs >= MIN_HEALTHY_WATCH_MS) {
      this.backoff.reset();
    }
    this.watchOpenedAtMs = undefined;
    this.abandonCycle();
    return this.generation;
  }

  /** Closes the current watch and makes the callbacks of everything it started stale. */
  private abandonCycle(): void {
    this.generation++;
    this.activeWatch?.abort();
    this.activeWatch = undefined;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
  }

  private get silenceLimitMs(): number {
    return this.options.silenceLimitMs ?? WATCH_SILENCE_LIMIT_MS;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }
}
