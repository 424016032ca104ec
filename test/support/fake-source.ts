import { mergeSlices, type SliceInput } from '../../src/lookaside/discovery/slices.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type ServiceKey,
  type Subscription,
} from '../../src/lookaside/discovery/types.js';

/** A DiscoverySource driven by the test: it publishes whatever the test sets. */
export class FakeSource implements DiscoverySource {
  readonly name = 'fake';
  readonly followed = new Map<string, (state: DiscoveryState) => void>();
  readonly followCount = new Map<string, number>();
  closed = false;

  describeMissing(service: ServiceKey): string {
    return `fake has no ${serviceKeyString(service)}`;
  }

  follow(service: ServiceKey, onState: (state: DiscoveryState) => void): Subscription {
    const id = serviceKeyString(service);
    this.followed.set(id, onState);
    this.followCount.set(id, (this.followCount.get(id) ?? 0) + 1);
    return {
      stop: () => {
        if (this.followed.get(id) === onState) this.followed.delete(id);
      },
    };
  }

  publish(id: string, state: DiscoveryState): void {
    const listener = this.followed.get(id);
    if (listener === undefined) throw new Error(`nobody follows ${id}`);
    listener(state);
  }

  publishSlices(id: string, slices: SliceInput[]): void {
    this.publish(id, { kind: 'synced', snapshot: mergeSlices(slices) });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
