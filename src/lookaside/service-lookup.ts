import type { ServiceKey } from './discovery/types.js';
import type { RememberedAnswer } from './missing-services.js';
import type { WatchedService } from './watched-services.js';

/** How a lookup ended: the Service is now watched, is missing, could not be read, or found no room. */
export type LookupResult =
  | { readonly kind: 'watched'; readonly service: WatchedService }
  | RememberedAnswer
  | { readonly kind: 'full' };

/** A lookup still under way when the caller stopped waiting. */
export interface StillLookingUp {
  readonly kind: 'pending';
}

/**
 * The first question about a name that is not watched: does the Service
 * exist? Every Resolve of the name while it runs waits on the same lookup.
 */
export class ServiceLookup {
  result: LookupResult | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly key: ServiceKey,
    readonly startedAtMs: number,
  ) {}

  /** The result once the lookup ends, or `pending` after `timeoutMs`, whichever comes first. */
  whenSettled(timeoutMs: number): Promise<LookupResult | StillLookingUp> {
    if (this.result !== undefined) return Promise.resolve(this.result);
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(finish);
        resolve(this.result ?? { kind: 'pending' });
      };
      const timer = setTimeout(finish, Math.max(0, timeoutMs));
      this.waiters.add(finish);
    });
  }

  /** Ends the lookup and wakes every caller waiting in `whenSettled`. */
  settle(result: LookupResult): void {
    this.result = result;
    for (const finish of [...this.waiters]) finish();
  }
}
