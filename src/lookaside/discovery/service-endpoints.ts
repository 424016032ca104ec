import { endpointIdentity, type CompactSlice, type SliceEndpoint } from './compact-slices.js';
import { byAddress, patchSorted } from './sorted-endpoints.js';
import type { Endpoint, ServiceSnapshot } from './types.js';

interface AddressEntry {
  endpoint: Endpoint;
  /** Slice entries that list this address (an endpoint moving between slices is in two). */
  refs: number;
  /** Whether `endpoint` is in the port's last published list. */
  published: boolean;
}

interface PortState {
  /** Slices that declare a port of this name. */
  declaredBy: number;
  readonly byAddress: Map<string, AddressEntry>;
  /** The ready endpoints as last published, sorted by address. */
  sorted: readonly Endpoint[];
  /** Since then: endpoints to put in, and published addresses to take out. */
  readonly added: Map<string, Endpoint>;
  readonly removed: Set<string>;
}

interface IdentityCount {
  ready: number;
  notReady: number;
}

let nextViewId = 0;

/**
 * The endpoints of one Service, kept merged across its slices and updated
 * one slice at a time: a change to one slice of a 10,000-endpoint Service
 * costs work in proportion to that slice (plus copying the sorted list's
 * references once per snapshot), where merging every slice again cost about
 * 20 ms. Built only for Services someone follows. Gives the same snapshots
 * as mergeSlices.
 */
export class ServiceEndpoints {
  private readonly slices = new Map<string, CompactSlice>();
  private readonly ports = new Map<string, PortState>();
  private readonly identities = new Map<string, IdentityCount>();
  private readyCount = 0;
  private notReadyCount = 0;
  private readonly id = ++nextViewId;
  private version = 0;
  private dirty = true;
  private latest: ServiceSnapshot | undefined;

  constructor(slices: Iterable<CompactSlice> = []) {
    for (const slice of slices) this.apply(slice.name, slice);
  }

  /** Slices of the Service now (0: it has none, or no longer exists). */
  get sliceCount(): number {
    return this.slices.size;
  }

  /** Puts in (or replaces) slice `name`, or takes it out when `next` is undefined. */
  apply(name: string, next: CompactSlice | undefined): void {
    const previous = this.slices.get(name);
    if (previous === next) return;
    if (previous !== undefined && next !== undefined && previous.resourceVersion !== '' && previous.resourceVersion === next.resourceVersion) return;
    // Adding before removing keeps an endpoint listed in both from leaving and coming back.
    if (next !== undefined) {
      this.slices.set(name, next);
      this.add(next);
    } else {
      this.slices.delete(name);
    }
    if (previous !== undefined) this.remove(previous);
    if (previous === undefined || next === undefined) this.dirty = true;
  }

  /** The current snapshot: the same object until something changes. */
  snapshot(): ServiceSnapshot {
    if (!this.dirty && this.latest !== undefined) return this.latest;
    this.dirty = false;
    this.version++;
    const readyByPort = new Map<string, readonly Endpoint[]>();
    for (const name of [...this.ports.keys()].sort()) {
      const port = this.ports.get(name) as PortState;
      if (port.added.size > 0 || port.removed.size > 0) {
        const added = [...port.added.values()].sort(byAddress);
        port.sorted = Object.freeze(patchSorted(port.sorted, [...port.removed].sort(), added));
        for (const endpoint of added) {
          const entry = port.byAddress.get(endpoint.address);
          if (entry !== undefined) entry.published = true;
        }
        port.added.clear();
        port.removed.clear();
      }
      readyByPort.set(name, port.sorted);
    }
    this.latest = Object.freeze({
      sliceCount: this.slices.size,
      readyByPort,
      readyCount: this.readyCount,
      notReadyCount: this.notReadyCount,
      fingerprint: `${this.id}:${this.version}`,
    });
    return this.latest;
  }

  private add(slice: CompactSlice): void {
    for (const port of slice.ports) this.portState(port.name).declaredBy++;
    for (const endpoint of slice.endpoints) {
      this.count(endpointIdentity(endpoint, slice), endpoint.servable, 1);
      if (!endpoint.servable) continue;
      for (const port of slice.ports) this.addAddress(this.portState(port.name), endpoint, port.port);
    }
  }

  private remove(slice: CompactSlice): void {
    for (const endpoint of slice.endpoints) {
      this.count(endpointIdentity(endpoint, slice), endpoint.servable, -1);
      if (!endpoint.servable) continue;
      for (const port of slice.ports) {
        const state = this.ports.get(port.name);
        if (state !== undefined) this.removeAddress(state, addressOf(endpoint.ip, port.port));
      }
    }
    for (const port of slice.ports) {
      const state = this.ports.get(port.name);
      if (state === undefined || --state.declaredBy > 0) continue;
      this.ports.delete(port.name);
      this.dirty = true;
    }
  }

  private portState(name: string): PortState {
    let state = this.ports.get(name);
    if (state === undefined) {
      state = { declaredBy: 0, byAddress: new Map(), sorted: [], added: new Map(), removed: new Set() };
      this.ports.set(name, state);
      this.dirty = true;
    }
    return state;
  }

  private addAddress(port: PortState, endpoint: SliceEndpoint, portNumber: number): void {
    const address = addressOf(endpoint.ip, portNumber);
    const entry = port.byAddress.get(address);
    if (entry === undefined) {
      const created = toEndpoint(address, endpoint, portNumber);
      port.byAddress.set(address, { endpoint: created, refs: 1, published: false });
      port.added.set(address, created);
      this.dirty = true;
      return;
    }
    entry.refs++;
    const known = entry.endpoint;
    if (known.podName === endpoint.podName && known.zone === endpoint.zone && known.nodeName === endpoint.nodeName) return;
    // Same address, other details: the latest slice's word wins.
    if (entry.published) port.removed.add(address);
    entry.endpoint = toEndpoint(address, endpoint, portNumber);
    entry.published = false;
    port.added.set(address, entry.endpoint);
    this.dirty = true;
  }

  private removeAddress(port: PortState, address: string): void {
    const entry = port.byAddress.get(address);
    if (entry === undefined || --entry.refs > 0) return;
    port.byAddress.delete(address);
    port.added.delete(address);
    if (entry.published) port.removed.add(address);
    this.dirty = true;
  }

  /** Counts an endpoint's identity in or out; readyCount and notReadyCount follow its class. */
  private count(identity: string, servable: boolean, delta: 1 | -1): void {
    let counts = this.identities.get(identity);
    if (counts === undefined) {
      counts = { ready: 0, notReady: 0 };
      this.identities.set(identity, counts);
    }
    const before = classOf(counts);
    if (servable) counts.ready += delta;
    else counts.notReady += delta;
    const after = classOf(counts);
    if (after === 'none') this.identities.delete(identity);
    if (before === after) return;
    this.dirty = true;
    if (before === 'ready') this.readyCount--;
    else if (before === 'not-ready') this.notReadyCount--;
    if (after === 'ready') this.readyCount++;
    else if (after === 'not-ready') this.notReadyCount++;
  }
}

/** Ready in any slice counts as ready (an endpoint moving between slices). */
function classOf(counts: IdentityCount): 'ready' | 'not-ready' | 'none' {
  return counts.ready > 0 ? 'ready' : counts.notReady > 0 ? 'not-ready' : 'none';
}

function addressOf(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function toEndpoint(address: string, endpoint: SliceEndpoint, port: number): Endpoint {
  return { address, ip: endpoint.ip, port, podName: endpoint.podName, zone: endpoint.zone, nodeName: endpoint.nodeName };
}
