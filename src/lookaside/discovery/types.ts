/**
 * The contract between where endpoints come from (Kubernetes, a file) and the
 * rest of the lookaside. Sources publish immutable snapshots; nothing above this
 * layer knows about Kubernetes objects or files.
 */

/** A Service is named by namespace and name; two namespaces never share an entry. */
export interface ServiceKey {
  readonly namespace: string;
  readonly name: string;
}

export function serviceKeyString(key: ServiceKey): string {
  return `${key.namespace}/${key.name}`;
}

/** One ready pod address for one port of a Service. */
export interface Endpoint {
  /** `ip:port`, or `[ip]:port` for IPv6. */
  readonly address: string;
  readonly ip: string;
  readonly port: number;
  readonly podName: string;
  readonly zone: string;
  readonly nodeName: string;
}

/** Everything known about one Service at one moment. Never mutated once published. */
export interface ServiceSnapshot {
  /** EndpointSlices (or file entries) behind the Service; 0 means the Service has none. */
  readonly sliceCount: number;
  /**
   * Ready endpoints per port name ("" for an unnamed port), each list sorted by
   * address. Every port a slice declares is a key, even when nothing behind it is ready.
   */
  readonly readyByPort: ReadonlyMap<string, readonly Endpoint[]>;
  /**
   * The numbers each port name has in the slices, ascending, whether or not
   * anything behind them is ready (a named target port may differ between pods).
   */
  readonly portNumbers: ReadonlyMap<string, readonly number[]>;
  /** Distinct ready endpoints (pods in Kubernetes: an IP with its ports). */
  readonly readyCount: number;
  /** Distinct endpoints seen that are not ready or are terminating. */
  readonly notReadyCount: number;
  /** Equal fingerprints mean equal content; lets consumers skip no-op updates. */
  readonly fingerprint: string;
}

export type DiscoveryFailureKind = 'unavailable' | 'forbidden';

/** Why a source could not learn a Service's endpoints. */
export interface DiscoveryFailure {
  readonly kind: DiscoveryFailureKind;
  readonly message: string;
}

/**
 * What a source knows of one Service. Once `synced`, a source never goes back
 * to `failed`: later errors keep the last known snapshot in service.
 */
export type DiscoveryState =
  | { readonly kind: 'pending' }
  | { readonly kind: 'failed'; readonly failure: DiscoveryFailure }
  | { readonly kind: 'synced'; readonly snapshot: ServiceSnapshot };

export interface Subscription {
  /** Stops following; no state is delivered after this returns. */
  stop(): void;
}

export interface FollowOptions {
  /**
   * Looking a name up rather than following a known Service: when the first
   * state is a snapshot with no slices, the source delivers it and then stops
   * by itself, having opened nothing to follow (in Kubernetes: one list, no watch).
   */
  readonly endIfMissing?: boolean;
}

/** Somewhere endpoints come from. */
export interface DiscoverySource {
  /** Short name for logs and messages: `kubernetes` or `file`. */
  readonly name: string;
  /** Says where endpoints were looked for, to complete a "not found" message. */
  describeMissing(service: ServiceKey): string;
  /**
   * Starts following one Service. `onState` receives every new state, never
   * synchronously from inside `follow`, until the subscription is stopped.
   */
  follow(service: ServiceKey, onState: (state: DiscoveryState) => void, options?: FollowOptions): Subscription;
  /**
   * Whether following `service` now is answered from what the source already
   * holds, asking its backend nothing (in Kubernetes: its namespace is listed,
   * or being listed, for another Service). Sources without it are taken to ask.
   */
  answersFromMemory?(service: ServiceKey): boolean;
  /** Stops every watch and timer. */
  close(): Promise<void>;
}
