import type { Endpoint } from '../discovery/types.js';
import type { Picker } from './picker.js';

interface Entry {
  readonly endpoint: Endpoint;
  /** Picks come 1/weight apart. */
  readonly period: number;
  deadline: number;
  /** Breaks deadline ties the same way every time. */
  readonly order: number;
}

/**
 * Earliest deadline first over weights: each endpoint is due again 1/weight
 * after its last pick, so over many picks each gets its weight's share, spread
 * out rather than in bursts. Deadlines start at a random point of the first
 * period, so schedulers built at the same moment do not move in step.
 * O(log n) a pick (a binary heap).
 */
export class WeightedRoundRobinPicker implements Picker {
  private readonly heap: Entry[];

  /**
   * @param endpoints non-empty
   * @param weights positive, one per endpoint, same order
   */
  constructor(endpoints: readonly Endpoint[], weights: readonly number[], random: () => number = Math.random) {
    if (endpoints.length === 0) throw new Error('WeightedRoundRobinPicker needs at least one endpoint');
    if (weights.length !== endpoints.length || weights.some((weight) => !(weight > 0))) {
      throw new Error('WeightedRoundRobinPicker needs one positive weight per endpoint');
    }
    this.heap = endpoints.map((endpoint, order) => {
      const period = 1 / (weights[order] as number);
      return { endpoint, period, deadline: random() * period, order };
    });
    for (let index = (this.heap.length >> 1) - 1; index >= 0; index -= 1) this.siftDown(index);
  }

  pick(): Endpoint {
    const head = this.heap[0] as Entry;
    head.deadline += head.period;
    this.siftDown(0);
    return head.endpoint;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && earlier(heap[left] as Entry, heap[smallest] as Entry)) smallest = left;
      if (right < heap.length && earlier(heap[right] as Entry, heap[smallest] as Entry)) smallest = right;
      if (smallest === index) return;
      const swap = heap[index] as Entry;
      heap[index] = heap[smallest] as Entry;
      heap[smallest] = swap;
      index = smallest;
    }
  }
}

function earlier(a: Entry, b: Entry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}
