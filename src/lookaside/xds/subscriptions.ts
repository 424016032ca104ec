import { parseXdsName, type ParsedName } from './xds-names.js';

/** A set of subscribed names of one type, sorted, each read once; shared by every stream that asks for the same set. */
export interface Subscription {
  readonly names: ReadonlyArray<readonly [string, ParsedName]>;
  /** The names joined: the set's identity, and the response cache's key. */
  readonly key: string;
}

interface Counted<T> {
  readonly value: T;
  refs: number;
}

/**
 * The name sets streams subscribe to, counted by reference. A thousand
 * clients of the same Services (the usual fleet: one Deployment, one
 * bootstrap) hold one copy of their names and of what each name means,
 * instead of a thousand; a set goes when its last stream drops it.
 */
export class Subscriptions {
  static readonly EMPTY: Subscription = { names: [], key: '' };
  private readonly sets = new Map<string, Counted<Subscription>>();
  private readonly parsed = new Map<string, Counted<ParsedName>>();

  constructor(private readonly allowedNamespaces: ReadonlySet<string>) {}

  /** Distinct name sets held now (for tests). */
  get size(): number {
    return this.sets.size;
  }

  /** The shared set of `names` (any order, duplicates allowed), counted until `release`. */
  acquire(names: readonly string[]): Subscription {
    const sorted = [...new Set(names)].sort();
    if (sorted.length === 0) return Subscriptions.EMPTY;
    const key = sorted.join('\u0000');
    const held = this.sets.get(key);
    if (held !== undefined) {
      held.refs += 1;
      return held.value;
    }
    const subscription: Subscription = { key, names: sorted.map((name) => [name, this.parse(name)] as const) };
    this.sets.set(key, { value: subscription, refs: 1 });
    return subscription;
  }

  release(subscription: Subscription): void {
    const held = this.sets.get(subscription.key);
    if (held === undefined || held.value !== subscription) return;
    held.refs -= 1;
    if (held.refs > 0) return;
    this.sets.delete(subscription.key);
    for (const [name] of subscription.names) {
      const parsed = this.parsed.get(name);
      if (parsed !== undefined && --parsed.refs === 0) this.parsed.delete(name);
    }
  }

  private parse(name: string): ParsedName {
    const held = this.parsed.get(name);
    if (held !== undefined) {
      held.refs += 1;
      return held.value;
    }
    const parsed = parseXdsName(name, this.allowedNamespaces);
    this.parsed.set(name, { value: parsed, refs: 1 });
    return parsed;
  }
}
