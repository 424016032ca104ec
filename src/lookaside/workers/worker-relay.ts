import { BoundedLru } from '../../common/bounded-lru.js';
import type { DiscoverySource, Subscription } from '../discovery/types.js';
import { MAX_ROUTE_NAMESPACES } from '../routing/kubernetes-routes.js';
import type { RouteSource } from '../routing/route-source.js';
import type { RouteTable } from '../routing/route-table.js';
import { FIRST_LIST_WAIT_LIMIT_MS } from '../resolver.js';
import type { PrimaryChannel } from './channel.js';
import { CHANNEL, encodeState, type WorkerMessage } from './protocol.js';

/**
 * The primary's side of one worker: follows in the primary's source the
 * Services the worker follows, and sends it every state; sends the routes of
 * each namespace it asked about, again after every change. Closing it (the
 * worker exited) stops all of that worker's follows.
 */
export class WorkerRelay {
  private readonly follows = new Map<number, Subscription>();
  /** Namespaces whose routes the worker asked for, least recently asked first. */
  private readonly routeNamespaces = new BoundedLru<string, true>(MAX_ROUTE_NAMESPACES);
  private closed = false;
  private readonly stopRoutes: (() => void) | undefined;

  constructor(
    private readonly channel: PrimaryChannel,
    private readonly source: DiscoverySource,
    private readonly routes: RouteSource | undefined,
  ) {
    this.stopRoutes = routes?.onChange?.((namespace) => this.routesChanged(namespace));
  }

  /** Acts on one message from the worker; false when it is not the relay's to handle. */
  handle(message: WorkerMessage): boolean {
    if (this.closed) return message.type === 'follow' || message.type === 'unfollow' || message.type === 'routes';
    switch (message.type) {
      case 'follow':
        this.follow(message.id, message.namespace, message.name, message.endIfMissing);
        return true;
      case 'unfollow':
        this.follows.get(message.id)?.stop();
        this.follows.delete(message.id);
        return true;
      case 'routes':
        this.routeNamespaces.set(message.namespace, true);
        this.sendRoutes(message.namespace);
        return true;
      default:
        return false;
    }
  }

  /** The primary's routes changed in `namespace` (undefined: maybe in any): sends them again where the worker asked. */
  routesChanged(namespace: string | undefined): void {
    if (this.closed) return;
    if (namespace !== undefined) {
      if (this.routeNamespaces.has(namespace)) this.sendRoutes(namespace);
      return;
    }
    for (const asked of this.routeNamespaces.keys()) this.sendRoutes(asked);
  }

  /** Services the worker follows now. */
  get followCount(): number {
    return this.follows.size;
  }

  close(): void {
    this.closed = true;
    this.stopRoutes?.();
    for (const subscription of this.follows.values()) subscription.stop();
    this.follows.clear();
    this.routeNamespaces.clear();
  }

  private follow(id: number, namespace: string, name: string, endIfMissing: boolean): void {
    if (this.follows.has(id)) return;
    const key = { namespace, name };
    const subscription = this.source.follow(
      key,
      (state) => {
        if (!this.follows.has(id)) return;
        // The text is the source's, for the worker's "not found" messages to read as a single process's do.
        const missing = state.kind === 'synced' && state.snapshot.sliceCount > 0 ? undefined : this.source.describeMissing(key);
        this.channel.send({ channel: CHANNEL, type: 'state', id, state: encodeState(state), missing });
      },
      { endIfMissing },
    );
    this.follows.set(id, subscription);
  }

  private sendRoutes(namespace: string): void {
    const routes = this.routes;
    if (routes === undefined) return;
    const send = (table: RouteTable): void => {
      if (!this.closed) this.channel.send({ channel: CHANNEL, type: 'routes', namespace, routes: table.routes });
    };
    const table = routes.routesIn(namespace, FIRST_LIST_WAIT_LIMIT_MS);
    if (table instanceof Promise) void table.then(send);
    else send(table);
  }
}
