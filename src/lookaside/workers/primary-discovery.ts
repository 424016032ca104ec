import { BoundedLru } from '../../common/bounded-lru.js';
import { serviceKeyString, type DiscoverySource, type DiscoveryState, type FollowOptions, type ServiceKey, type Subscription } from '../discovery/types.js';
import { MAX_MISSING_NAMES } from '../watched-services.js';
import type { WorkerChannel } from './channel.js';
import { CHANNEL, decodeState } from './protocol.js';

interface Followed {
  readonly key: ServiceKey;
  readonly onState: (state: DiscoveryState) => void;
}

/**
 * A worker's discovery: the primary's. Each follow is relayed to the primary,
 * which follows the Service in its one real source (one watch per namespace
 * whatever the number of workers) and sends every state back. The worker's
 * own WatchedServices (MAX_SERVICES, negative cache, lookups) sit on top, as
 * they sit on a real source in a single process.
 */
export class PrimaryDiscovery implements DiscoverySource {
  private nextId = 1;
  private readonly followed = new Map<number, Followed>();
  /** The primary's "not found" text per Service, from the latest state it sent (the least recently sent forgotten first). */
  private readonly missingTexts = new BoundedLru<string, string>(MAX_MISSING_NAMES);
  /**
   * Namespaces where the primary found a Service: following another Service
   * there costs the API server nothing (they are watched by the primary; the
   * least recently heard forgotten first).
   */
  private readonly namespacesHeard = new BoundedLru<string, true>(MAX_MISSING_NAMES);
  private readonly stopListening: () => void;

  constructor(
    private readonly channel: WorkerChannel,
    /** The primary's source name, `file` or `kubernetes`. */
    readonly name: string,
  ) {
    this.stopListening = channel.onMessage((message) => {
      if (message.type !== 'state') return;
      const followed = this.followed.get(message.id);
      if (followed === undefined) return;
      if (message.missing !== undefined) this.missingTexts.set(serviceKeyString(followed.key), message.missing);
      if (message.state.kind === 'synced' && message.state.sliceCount > 0) this.namespacesHeard.set(followed.key.namespace, true);
      followed.onState(decodeState(message.state));
    });
  }

  describeMissing(service: ServiceKey): string {
    return this.missingTexts.peek(serviceKeyString(service)) ?? `the ${this.name} discovery of the lookaside has nothing for it`;
  }

  answersFromMemory(service: ServiceKey): boolean {
    return this.namespacesHeard.has(service.namespace);
  }

  follow(service: ServiceKey, onState: (state: DiscoveryState) => void, options: FollowOptions = {}): Subscription {
    const id = this.nextId++;
    this.followed.set(id, { key: service, onState });
    const { namespace, name } = service;
    this.channel.send({ channel: CHANNEL, type: 'follow', id, namespace, name, endIfMissing: options.endIfMissing === true });
    return {
      stop: () => {
        if (!this.followed.delete(id)) return;
        this.channel.send({ channel: CHANNEL, type: 'unfollow', id });
      },
    };
  }

  async close(): Promise<void> {
    this.stopListening();
    for (const id of [...this.followed.keys()]) this.channel.send({ channel: CHANNEL, type: 'unfollow', id });
    this.followed.clear();
  }
}
