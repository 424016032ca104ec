import { mergeSlices, type SliceInput } from '../../src/lookaside/discovery/slices.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type FollowOptions,
  type ServiceKey,
  type Subscription,
} from '../../src/lookaside/discovery/types.js';

/** A DiscoverySource driven by the test: it publishes whatever the test sets. */
export class FakeSource implements DiscoverySource {
  readonly name = 'fake';
  readonly followed = new Map<string, (state: DiscoveryState) => void>();
  readonly followCount = new Map<string, number>();
  /** The options of each Service's latest follow. */
  readonly followOptions = new Map<string, FollowOptions | undefined>();
  /**
   * When set, every follow is answered on the next tick with the slices this
   * returns for the Service (`[]`: it does not exist), as a file source would.
   */
  answer: ((id: string) => SliceInput[]) | undefined;
  closed = false;

  describeMissing(service: ServiceKey): string {
    return `fake has no ${serviceKeyString(service)}`;
  }

  follow(service: ServiceKey, onState: (state: DiscoveryState) => void, options?: FollowOptions): Subscription {
    const id = serviceKeyString(service);
    this.followed.set(id, onState);
    this.followCount.set(id, (this.followCount.get(id) ?? 0) + 1);
    this.followOptions.set(id, options);
    const answer = this.answer;
    if (answer !== undefined) {
      setImmediate(() => {
        if (this.followed.get(id) === onState) onState({ kind: 'synced', snapshot: mergeSlices(answer(id)) });
      });
    }
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
