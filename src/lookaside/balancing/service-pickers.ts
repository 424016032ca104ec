import type { Endpoint, ServiceSnapshot } from '../discovery/types.js';
import type { ServiceLoad } from '../load/service-load.js';
import { LeastRequestPicker, type RequestLoad } from './least-request.js';
import type { Picker, PolicyName } from './picker.js';
import { RandomPicker } from './random.js';
import { RoundRobinPicker } from './round-robin.js';
import { WeightedRoundRobinPicker } from './weighted-round-robin.js';

/** Least request without per-endpoint state (no ServiceLoad): every count is 0 and no latency known, so it picks at random. */
const NO_LOAD: RequestLoad = { outstanding: 0, expectedLatencyMicros: () => undefined };

interface WeightedPicker {
  readonly picker: Picker;
  readonly builtAtMs: number;
}

/**
 * The pickers of one Service snapshot, one per (port, policy), made on first
 * use. Built anew for every snapshot; round-robin pickers continue the
 * rotation of the set they replace. With a ServiceLoad, every picker leaves
 * out the ejected endpoints and is rebuilt when that set changes (never all:
 * a port whose endpoints are all ejected keeps them), and the weighted
 * pickers are rebuilt from the endpoints' latest weights once per update
 * period.
 */
export class ServicePickers {
  /** The per-endpoint state it reads; carried over from the pickers it replaces. */
  readonly load: ServiceLoad | undefined;
  /** The snapshot's port when it has exactly one (what a Resolve naming no port means); undefined otherwise. */
  readonly onlyPort: string | undefined;
  private readonly onlyPortReady: number;
  private readonly roundRobin = new Map<string, RoundRobinPicker>();
  private readonly random = new Map<string, RandomPicker>();
  private readonly leastRequest = new Map<string, LeastRequestPicker>();
  private readonly weighted = new Map<string, WeightedPicker>();
  /** Where each port's rotation stood in the previous set (copied, so old sets can be freed). */
  private inheritedPositions: ReadonlyMap<string, string>;
  private builtVersion: number;
  // The picker handed out last and what it was asked for: a Service's Resolves nearly all ask the
  // same port and policy, and the maps of a random one of 1,000 Services are not in the CPU's cache.
  private lastPortName: string | undefined;
  private lastPolicy: PolicyName | undefined;
  private lastPicker: Picker | undefined;
  /** Where a rotation with nothing to continue starts: endpoint `rotationOffset` modulo their number. */
  private readonly rotationOffset: number;

  constructor(
    readonly snapshot: ServiceSnapshot,
    previous?: ServicePickers,
    private readonly randomSource: () => number = Math.random,
    load?: ServiceLoad,
    rotationOffset?: number,
  ) {
    this.rotationOffset = rotationOffset ?? previous?.rotationOffset ?? 0;
    this.inheritedPositions = previous?.rotationPositions() ?? new Map();
    this.load = load ?? previous?.load;
    this.load?.sync(snapshot);
    this.builtVersion = this.load?.version(this.load.now()) ?? 0;
    const only = snapshot.readyByPort.size === 1 ? [...snapshot.readyByPort][0] : undefined;
    this.onlyPort = only?.[0];
    this.onlyPortReady = only?.[1].length ?? 0;
  }

  /** Ready endpoints on `portName` in the snapshot, ejected ones included; kept for the only port, as its Resolves ask on every call. */
  readyOn(portName: string): number {
    return portName === this.onlyPort ? this.onlyPortReady : (this.snapshot.readyByPort.get(portName)?.length ?? 0);
  }

  /** The picker for a port that has ready endpoints; undefined when it has none. */
  pickerFor(portName: string, policy: PolicyName): Picker | undefined {
    const load = this.load;
    if (load !== undefined) {
      const nowMs = load.now();
      const version = load.version(nowMs);
      if (version !== this.builtVersion) this.startOver(version);
      if (policy === 'weighted_round_robin') return this.weightedPicker(portName, load, nowMs);
    }
    if (this.lastPicker !== undefined && portName === this.lastPortName && policy === this.lastPolicy) return this.lastPicker;
    const picker = policy === 'random' ? this.randomPicker(portName) : policy === 'least_request' ? this.leastRequestPicker(portName) : this.roundRobinPicker(portName);
    this.lastPortName = portName;
    this.lastPolicy = policy;
    this.lastPicker = picker;
    return picker;
  }

  private roundRobinPicker(portName: string): RoundRobinPicker | undefined {
    let picker = this.roundRobin.get(portName);
    if (picker === undefined) {
      const endpoints = this.availableEndpoints(portName);
      if (endpoints === undefined) return undefined;
      picker = new RoundRobinPicker(endpoints, this.inheritedPositions.get(portName), this.rotationOffset);
      this.roundRobin.set(portName, picker);
    }
    return picker;
  }

  private randomPicker(portName: string): RandomPicker | undefined {
    let picker = this.random.get(portName);
    if (picker === undefined) {
      const endpoints = this.availableEndpoints(portName);
      if (endpoints === undefined) return undefined;
      picker = new RandomPicker(endpoints, this.randomSource);
      this.random.set(portName, picker);
    }
    return picker;
  }

  private leastRequestPicker(portName: string): LeastRequestPicker | undefined {
    let picker = this.leastRequest.get(portName);
    if (picker === undefined) {
      const endpoints = this.availableEndpoints(portName);
      if (endpoints === undefined) return undefined;
      const load = this.load;
      picker =
        load === undefined
          ? new LeastRequestPicker(endpoints, endpoints.map(() => NO_LOAD), this.randomSource)
          : new LeastRequestPicker(endpoints, load.loadsOf(endpoints), this.randomSource, () => load.now());
      this.leastRequest.set(portName, picker);
    }
    return picker;
  }

  /** Weighted round robin from ORCA weights, rebuilt once per update period; round robin while fewer than two have a weight. */
  private weightedPicker(portName: string, load: ServiceLoad, nowMs: number): Picker | undefined {
    load.useWeights(nowMs);
    const built = this.weighted.get(portName);
    if (built !== undefined && nowMs - built.builtAtMs < load.weightUpdatePeriodMs) return built.picker;
    const endpoints = this.availableEndpoints(portName);
    if (endpoints === undefined) return undefined;
    const weights = load.weightsOf(endpoints, nowMs);
    const continueAfter = built?.picker instanceof RoundRobinPicker ? built.picker.lastPicked : this.inheritedPositions.get(portName);
    const picker =
      weights === undefined ? new RoundRobinPicker(endpoints, continueAfter) : new WeightedRoundRobinPicker(endpoints, weights, this.randomSource);
    this.weighted.set(portName, { picker, builtAtMs: nowMs });
    return picker;
  }

  private availableEndpoints(portName: string): readonly Endpoint[] | undefined {
    const endpoints = this.snapshot.readyByPort.get(portName);
    if (endpoints === undefined || endpoints.length === 0) return undefined;
    return this.load === undefined ? endpoints : this.load.available(endpoints);
  }

  /** The ejected set changed: every picker is built again, round robin continuing where it stood. */
  private startOver(version: number): void {
    this.inheritedPositions = this.rotationPositions();
    this.roundRobin.clear();
    this.random.clear();
    this.leastRequest.clear();
    this.weighted.clear();
    this.lastPicker = undefined;
    this.builtVersion = version;
  }

  private rotationPositions(): Map<string, string> {
    const positions = new Map(this.inheritedPositions);
    for (const [portName, picker] of this.roundRobin) {
      if (picker.lastPicked !== undefined) positions.set(portName, picker.lastPicked);
    }
    return positions;
  }
}
