import { ServicePickers } from '../src/lookaside/balancing/service-pickers.js';
import { compactSlice, type CompactSlice } from '../src/lookaside/discovery/compact-slices.js';
import { NamespaceSlices } from '../src/lookaside/discovery/namespace-slices.js';
import { mergeSlices, type SliceInput } from '../src/lookaside/discovery/slices.js';
import type { ServiceSnapshot } from '../src/lookaside/discovery/types.js';
import { endpointSlice, podIp } from '../test/apiserver/objects.js';

/** Milliseconds of event-loop time one slice event costs, as percentiles over the iterations. */
export interface ChangeCost {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface SliceChangeCosts {
  /** Now: parse the event, update the namespace store and the Service's view, new pickers. */
  readonly incremental: ChangeCost;
  /** Before: parse the event, merge every slice of the Service again (ServiceWatch + mergeSlices), new pickers. */
  readonly remerge: ChangeCost;
}

/**
 * The work the event loop does for one watch event that changes one slice
 * (100 endpoints) of a Service of `slices` × 100 endpoints, measured in
 * process: from the event's JSON line to new pickers for the Service, the
 * way the lookaside does it now and the way it did before (keeping the API
 * objects and merging every slice on each event).
 */
export async function measureSliceChange(slices = 100, iterations = 300): Promise<SliceChangeCosts> {
  const raw = Array.from({ length: slices }, (_, s) => withVersion(endpointSlice('bench', 'big', `big-${s}`, endpoints(s, true)), s + 1));
  // Alternately one endpoint of slice 42 goes unready and ready again.
  const lines = [false, true].map((ready, i) =>
    JSON.stringify({ type: 'MODIFIED', object: withVersion(endpointSlice('bench', 'big', 'big-42', endpoints(42, ready)), 1_000 + i) }),
  );

  let pickers: ServicePickers | undefined;
  const store = new NamespaceSlices(() => undefined);
  store.listed(raw.map((slice) => compactSlice(slice) as CompactSlice));
  store.subscribe('big', (state) => {
    if (state.kind === 'synced') pickers = pick(state.snapshot, pickers);
  }, false);
  await new Promise((resolve) => setImmediate(resolve));
  // The store hands snapshots out on the next turn of the event loop; flush() is that turn's work.
  const flush = (store as unknown as { flush(): void }).flush.bind(store);
  const incremental = time(iterations, (i) => {
    const event = JSON.parse(lines[i % 2] as string) as { object: unknown };
    store.changed({ type: 'MODIFIED', item: compactSlice(event.object) as CompactSlice });
    flush();
  });

  const kept = new Map(raw.map((slice) => [slice.metadata.name, slice as SliceInput]));
  let previous: ServiceSnapshot | undefined;
  let oldPickers: ServicePickers | undefined;
  const remerge = time(iterations, (i) => {
    const event = JSON.parse(lines[i % 2] as string) as { object: { metadata: { name: string } } };
    kept.set(event.object.metadata.name, event.object as SliceInput);
    const snapshot = mergeSlices([...kept.values()]);
    if (snapshot.fingerprint !== previous?.fingerprint) oldPickers = pick(snapshot, oldPickers);
    previous = snapshot;
  });
  return { incremental, remerge };
}

function endpoints(slice: number, firstReady: boolean): Array<{ ip: string; ready: boolean }> {
  return Array.from({ length: 100 }, (_, i) => ({ ip: podIp(200, slice * 100 + i), ready: i === 0 ? firstReady : true }));
}

function withVersion<T extends { metadata: object }>(slice: T, version: number): T {
  return { ...slice, metadata: { ...slice.metadata, resourceVersion: String(version) } };
}

/** What WatchedServices does with a new snapshot: new pickers, continuing the rotation; one pick. */
function pick(snapshot: ServiceSnapshot, previous: ServicePickers | undefined): ServicePickers {
  const pickers = new ServicePickers(snapshot, previous);
  pickers.pickerFor('grpc', 'round_robin')?.pick();
  return pickers;
}

function time(iterations: number, work: (i: number) => void): ChangeCost {
  for (let i = 0; i < 30; i++) work(i);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const startedMs = performance.now();
    work(i);
    samples.push(performance.now() - startedMs);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { p50Ms: at(0.5), p99Ms: at(0.99) };
}
