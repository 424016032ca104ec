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
  /** The primary's "not found" text per Service, from the latest state it sent (bounded, oldest forgotten first). */
  private readonly missingTexts = new Map<string, string>();
  /** Namespaces where the primary found a Service: following another Service there costs the API server nothing. */
  private readonly namespacesHeard = new Set<string>();
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
      if (message.missing !== undefined) this.rememberMissingText(followed.key, message.missing);
      if (message.state.kind === 'synced' && message.state.sliceCount > 0) this.rememberNamespace(followed.key.namespace);
      followed.onState(decodeState(message.state));
    });
  }

  describeMissing(service: ServiceKey): string {
    return this.missingTexts.get(serviceKeyString(service)) ?? `the ${this.name} discovery of the lookaside has nothing for it`;
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

  /** A namespace where a Service exists is watched by the primary (bounded: the oldest is forgotten first). */
  private rememberNamespace(namespace: string): void {
    this.namespacesHeard.delete(namespace);
    this.namespacesHeard.add(namespace);
    if (this.namespacesHeard.size > MAX_MISSING_NAMES) this.namespacesHeard.delete(this.namespacesHeard.values().next().value as string);
  }

  private rememberMissingText(key: ServiceKey, text: string): void {
    const id = serviceKeyString(key);
    this.missingTexts.delete(id);
    this.missingTexts.set(id, text);
    if (this.missingTexts.size > MAX_MISSING_NAMES) {
      const oldest = this.missingTexts.keys().next().value;
      if (oldest !== undefined) this.missingTexts.delete(oldest);
    }
  }
}
