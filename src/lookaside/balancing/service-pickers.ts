import type { Endpoint, ServiceSnapshot } from '../discovery/types.js';
import type { Picker, PolicyName } from './picker.js';
import { RandomPicker } from './random.js';
import { RoundRobinPicker } from './round-robin.js';

/**
 * The pickers of one Service snapshot, one per (port, policy), made on first
 * use. Built anew for every snapshot; round-robin pickers continue the rotation
 * of the set they replace.
 */
export class ServicePickers {
  private readonly roundRobin = new Map<string, RoundRobinPicker>();
  private readonly random = new Map<string, RandomPicker>();
  /** Where each port's rotation stood in the previous set (copied, so old sets can be freed). */
  private readonly inheritedPositions: ReadonlyMap<string, string>;

  constructor(
    readonly snapshot: ServiceSnapshot,
    previous?: ServicePickers,
    private readonly randomSource: () => number = Math.random,
  ) {
    this.inheritedPositions = previous?.rotationPositions() ?? new Map();
  }

  /** The picker for a port that has ready endpoints; undefined when it has none. */
  pickerFor(portName: string, policy: PolicyName): Picker | undefined {
    return policy === 'random' ? this.randomPicker(portName) : this.roundRobinPicker(portName);
  }

  private roundRobinPicker(portName: string): RoundRobinPicker | undefined {
    let picker = this.roundRobin.get(portName);
    if (picker === undefined) {
      const endpoints = this.readyEndpoints(portName);
      if (endpoints === undefined) return undefined;
      picker = new RoundRobinPicker(endpoints, this.inheritedPositions.get(portName));
      this.roundRobin.set(portName, picker);
    }
    return picker;
  }

  private randomPicker(portName: string): RandomPicker | undefined {
    let picker = this.random.get(portName);
    if (picker === undefined) {
      const endpoints = this.readyEndpoints(portName);
      if (endpoints === undefined) return undefined;
      picker = new RandomPicker(endpoints, this.randomSource);
      this.random.set(portName, picker);
    }
    return picker;
  }

  private readyEndpoints(portName: string): readonly Endpoint[] | undefined {
    const endpoints = this.snapshot.readyByPort.get(portName);
    return endpoints === undefined || endpoints.length === 0 ? undefined : endpoints;
  }

  private rotationPositions(): Map<string, string> {
    const positions = new Map(this.inheritedPositions);
    for (const [portName, picker] of this.roundRobin) {
      if (picker.lastPicked !== undefined) positions.set(portName, picker.lastPicked);
    }
    return positions;
  }
}
