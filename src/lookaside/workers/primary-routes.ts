import { BoundedLru } from '../../common/bounded-lru.js';
import { MAX_ROUTE_NAMESPACES } from '../routing/kubernetes-routes.js';
import type { RouteSource } from '../routing/route-source.js';
import { RouteTable } from '../routing/route-table.js';
import type { WorkerChannel } from './channel.js';
import { CHANNEL } from './protocol.js';

/**
 * A namespace's routes are asked for again after this long, if used: the
 * primary may have stopped watching it (its least recently used namespaces
 * go past MAX_ROUTE_NAMESPACES) and asking reopens the watch there.
 */
export const ROUTES_ASK_AGAIN_MS = 30_000;

interface Known {
  table: RouteTable;
  askedAtMs: number;
}

/**
 * A worker's routes: the primary's. The first ask for a namespace goes to the
 * primary (the call waits up to its `waitMs`, as with a watch being listed);
 * the primary then sends the namespace's routes again after every change.
 */
export class PrimaryRoutes implements RouteSource {
  /** Namespaces whose routes came, the least recently used forgotten first. */
  private readonly known = new BoundedLru<string, Known>(MAX_ROUTE_NAMESPACES);
  private readonly waiting = new Map<string, Set<(table: RouteTable) => void>>();
  private readonly listeners = new Set<(namespace: string | undefined) => void>();
  private readonly stopListening: () => void;

  constructor(
    private readonly channel: WorkerChannel,
    private readonly now: () => number = Date.now,
  ) {
    this.stopListening = channel.onMessage((message) => {
      if (message.type === 'routes') this.receive(message.namespace, new RouteTable(message.routes));
    });
  }

  routesIn(namespace: string, waitMs: number): RouteTable | Promise<RouteTable> {
    const known = this.known.get(namespace);
    const nowMs = this.now();
    if (known !== undefined) {
      if (nowMs - known.askedAtMs >= ROUTES_ASK_AGAIN_MS) {
        known.askedAtMs = nowMs;
        this.ask(namespace);
      }
      return known.table;
    }
    let waiters = this.waiting.get(namespace);
    if (waiters === undefined) {
      waiters = new Set();
      this.waiting.set(namespace, waiters);
      this.ask(namespace);
    }
    const registered = waiters;
    return new Promise((resolve) => {
      const answer = (table: RouteTable): void => {
        clearTimeout(timer);
        registered.delete(answer);
        resolve(table);
      };
      // Routes not read in time count as none, until they are (RouteSource's contract).
      const timer = setTimeout(() => answer(RouteTable.EMPTY), Math.max(0, waitMs));
      timer.unref();
      registered.add(answer);
    });
  }

  onChange(listener: (namespace: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.stopListening();
    for (const waiters of this.waiting.values()) for (const answer of [...waiters]) answer(RouteTable.EMPTY);
    this.waiting.clear();
    this.known.clear();
  }

  private ask(namespace: string): void {
    this.channel.send({ channel: CHANNEL, type: 'routes', namespace });
  }

  private receive(namespace: string, table: RouteTable): void {
    const known = this.known.peek(namespace);
    if (known !== undefined) known.table = table;
    else if (this.waiting.has(namespace)) this.remember(namespace, table);
    else return; // forgotten meanwhile: asked again on next use
    const waiters = this.waiting.get(namespace);
    this.waiting.delete(namespace);
    for (const answer of [...(waiters ?? [])]) answer(table);
    for (const listener of [...this.listeners]) listener(namespace);
  }

  private remember(namespace: string, table: RouteTable): void {
    this.known.set(namespace, { table, askedAtMs: this.now() });
  }
}
