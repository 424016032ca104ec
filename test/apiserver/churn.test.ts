import assert from 'node:assert/strict';

import { seededRandom } from '../support/endpoints.js';
import type { ControlPlane } from '../support/control-plane.js';
import { delay } from '../support/process.js';
import { controlPlaneFor } from './fixture.js';
import { errorView, LookasideUnderTest, readyView, type View } from './lookaside.js';
import { Cluster, endpointSlice, podIp, summarize, uniqueName, type EndpointSpec } from './objects.js';

function integerFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : Number.parseInt(value, 10);
}

/** Total EndpointSlice writes; LOOKASIDE_CHURN_WRITES overrides. */
const WRITES = integerFromEnv('LOOKASIDE_CHURN_WRITES', 3_000);
/** Replays a failing run: LOOKASIDE_CHURN_SEED=<the seed it printed>. */
const SEED = integerFromEnv('LOOKASIDE_CHURN_SEED', Date.now() % 1_000_000);
/** Concurrent writers, each owning its own slices, so events from several slices interleave. */
const WORKERS = 4;
const SLICES_PER_WORKER = 3;
/** Each worker draws addresses from a small pool, so an address can sit in two of its slices at once. */
const ADDRESS_POOL = 40;
const CHECKPOINTS = 3;

type Operation = 'create' | 'patch' | 'replace' | 'delete';

describe('lookaside on a real kube-apiserver: randomized churn', function () {
  this.timeout(600_000);
  let plane: ControlPlane;
  const lookasides: LookasideUnderTest[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
  });

  after(async function () {
    await Promise.all(lookasides.map((lookaside) => lookaside.stop()));
  });

  it(`ends every phase with Resolve's view equal to the API's, over ${WRITES} random EndpointSlice writes`, async function () {
    const cluster = new Cluster(plane.admin);
    const namespace = uniqueName('churn');
    const service = uniqueName('svc');
    await cluster.createNamespace(namespace);
    await cluster.createService(namespace, service);
    // One lookaside follows the watch alone; the other also re-lists every second, racing its own watch.
    const running = await LookasideUnderTest.start(plane.adminKubeconfig);
    lookasides.push(running);
    const relisting = await LookasideUnderTest.start(plane.adminKubeconfig, { REFRESH_INTERVAL_SECONDS: '1' });
    lookasides.push(relisting);
    console.log(`      seed ${SEED} (replay with LOOKASIDE_CHURN_SEED=${SEED})`);

    // Resolve keeps being called while the writes go on; only these answers are acceptable mid-churn.
    // (It pauses at checkpoints: its calls would take turns out of the rotation being checked.)
    const codes = new Map<string, number>();
    const callWhile = async (writing: { done: boolean }): Promise<void> => {
      while (!writing.done) {
        const answer = await running.resolve(namespace, service);
        const code = answer.ok ? 'OK' : answer.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        await delay(5);
      }
    };

    const counts = new Map<Operation, number>();
    /** Endpoint count of each slice that exists, per worker. */
    const slices = new Map<string, number>();
    const randoms = Array.from({ length: WORKERS }, (_, worker) => seededRandom(SEED * 31 + worker));

    const randomEndpoints = (worker: number, random: () => number): EndpointSpec[] => {
      const count = Math.floor(random() * 25);
      const picked = new Set<number>();
      while (picked.size < count) picked.add(Math.floor(random() * ADDRESS_POOL));
      return [...picked].map((n) => {
        const roll = random();
        return {
          ip: podIp(50 + worker, n),
          ready: roll < 0.6 ? true : roll < 0.8 ? false : roll < 0.9 ? null : undefined,
          terminating: random() < 0.1,
        };
      });
    };

    const writeOnce = async (worker: number, random: () => number): Promise<void> => {
      const name = `${service}-w${worker}-${Math.floor(random() * SLICES_PER_WORKER)}`;
      const size = slices.get(name);
      const roll = random();
      let operation: Operation;
      if (size === undefined) {
        operation = 'create';
        const endpoints = randomEndpoints(worker, random);
        await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
        slices.set(name, endpoints.length);
      } else if (roll < 0.55 && size > 0) {
        operation = 'patch';
        const conditions = random() < 0.75 ? { ready: random() < 0.5 } : { terminating: random() < 0.3 };
        await cluster.patchEndpoint(namespace, name, Math.floor(random() * size), conditions);
      } else if (roll < 0.85) {
        operation = 'replace';
        const endpoints = randomEndpoints(worker, random);
        await cluster.replaceSlice(endpointSlice(namespace, service, name, endpoints));
        slices.set(name, endpoints.length);
      } else {
        operation = 'delete';
        await cluster.deleteSlice(namespace, name);
        slices.delete(name);
      }
      counts.set(operation, (counts.get(operation) ?? 0) + 1);
    };

    const convergenceMs: number[] = [];
    const startedMs = Date.now();
    let written = 0;
    for (let phase = 0; phase < CHECKPOINTS; phase++) {
      const phaseWrites = Math.floor(WRITES / CHECKPOINTS) + (phase < WRITES % CHECKPOINTS ? 1 : 0);
      const writing = { done: false };
      const caller = callWhile(writing);
      await Promise.all(
        randoms.map(async (random, worker) => {
          const share = Math.floor(phaseWrites / WORKERS) + (worker < phaseWrites % WORKERS ? 1 : 0);
          for (let i = 0; i < share; i++) await writeOnce(worker, random);
        }),
      ).finally(() => (writing.done = true));
      await caller;
      written += phaseWrites;
      const sinceMs = Date.now();
      const ready = await cluster.readyAddresses(namespace, service);
      const expected: View = ready === undefined ? errorView('NOT_FOUND') : ready.size === 0 ? errorView('UNAVAILABLE') : readyView(ready);
      const delaysMs = await Promise.all(
        lookasides.map((lookaside) => lookaside.waitForView(namespace, service, expected, { sinceMs, timeoutMs: 30_000 })),
      );
      convergenceMs.push(...delaysMs);
    }
    const elapsedMs = Date.now() - startedMs;

    assert.equal(written, WRITES);
    for (const lookaside of lookasides) assert.ok(lookaside.running, 'a lookaside exited during the churn');
    const unexpected = [...codes.keys()].filter((code) => !['OK', 'UNAVAILABLE', 'NOT_FOUND'].includes(code));
    assert.deepEqual(unexpected, [], `unexpected Resolve codes during churn: ${JSON.stringify(Object.fromEntries(codes))}`);
    console.log(
      `      ${WRITES} writes (${[...counts].map(([op, n]) => `${op} ${n}`).join(', ')}) in ${elapsedMs} ms ` +
        `(${Math.round((WRITES * 1000) / elapsedMs)}/s, ${WORKERS} writers); Resolve answers during churn: ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    console.log(`      last write → Resolve equal to the API, ${CHECKPOINTS} checkpoints × 2 lookasides: ${summarize(convergenceMs)}`);
  });
});
