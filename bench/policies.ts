/**
 * `make bench-policies`: the lookaside's policies side by side on the same
 * three greet servers, in alternating rounds of closed-loop load through the
 * gateway, one scenario per goal of issue #12. The anchor is round robin as it
 * was before (a gateway that reports nothing, so nothing is counted or ejected).
 *
 *   slow     one pod 50 ms, the others 2 ms: least_request vs round_robin
 *   frozen   one pod SIGSTOPped for 10 s: failures, time to ejection, return after it thaws
 *   dead     two of three pods killed but still listed: failures after the first second
 *   cpu      one pod burning CPU on every call: weighted_round_robin vs round_robin
 *   healthy  all well: what reporting, ejection and least_request cost
 *
 * BENCH_SCENARIOS (comma list), BENCH_ROUNDS, BENCH_DURATION_S, BENCH_CONNECTIONS
 * and BENCH_FREEZE_ROUNDS change the run.
 */
import { delay } from '../test/support/process.js';
import { BEFORE, LEAST_REQUEST, median, ROUND_ROBIN, roundOrder, say, shareOf, Stack, WEIGHTED, type Arm, type Round } from './policies-stack.js';

const SCENARIOS = ['slow', 'frozen', 'dead', 'cpu', 'healthy'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Settings {
  readonly scenarios: readonly Scenario[];
  readonly rounds: number;
  readonly durationS: number;
  readonly connections: number;
  readonly freezeRounds: number;
}

interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

const goals: Goal[] = [];
/** The frozen scenario: load starts, then the pod is frozen this long after, for FREEZE_S. */
const FREEZE_AT_S = 2;
const FREEZE_S = 10;
/** The lookaside's default OUTLIER_BASE_EJECTION_SECONDS, which the bench keeps. */
const BASE_EJECTION_S = 30;
/** GREET_CPU_MS of the pod that burns CPU. */
const BURN_CPU_MS = 5;
/** Longer than the default WRR_BLACKOUT_SECONDS (10), so weights are in use when rounds start. */
const WEIGHTS_WARM_UP_S = 13;

function readSettings(): Settings {
  const number = (name: string, fallback: number): number => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    return value;
  };
  const listed = (process.env['BENCH_SCENARIOS'] ?? SCENARIOS.join(',')).split(',').map((name) => name.trim());
  const unknown = listed.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}; use ${SCENARIOS.join(', ')}`);
  return {
    scenarios: listed as Scenario[],
    rounds: number('BENCH_ROUNDS', 2),
    durationS: number('BENCH_DURATION_S', 8),
    connections: number('BENCH_CONNECTIONS', 20),
    freezeRounds: number('BENCH_FREEZE_ROUNDS', 2),
  };
}

/** Runs `rounds` rounds of every arm in alternating order; the results per arm, in round order. */
async function rounds(stack: Stack, arms: readonly Arm[], count: number, run: (arm: Arm) => Promise<Round>): Promise<Map<Arm, Round[]>> {
  const results = new Map<Arm, Round[]>(arms.map((arm) => [arm, []]));
  for (let round = 0; round < count; round += 1) {
    for (const arm of roundOrder(arms, round)) {
      const result = await run(arm);
      results.get(arm)?.push(result);
      say(
        `  round ${round + 1} ${arm.name.padEnd(34)} ${result.rps.toFixed(0).padStart(6)} req/s  mean ${result.meanMs.toFixed(1)} ms  ` +
          `failed ${result.failed}  hedged ${result.hedges}  [${[...result.perPod].map(([pod, calls]) => `${pod} ${calls}`).join(', ')}]`,
      );
    }
  }
  return results;
}

function table(results: ReadonlyMap<Arm, readonly Round[]>, watchedPod?: string): void {
  say('');
  say(`| policy | req/s | mean ms | p99 ms | failed | ${watchedPod === undefined ? 'calls per pod' : `share of ${watchedPod}`} |`);
  say('|---|---:|---:|---:|---:|---|');
  for (const [arm, list] of results) {
    const perPod = new Map<string, number>();
    for (const round of list) for (const [pod, calls] of round.perPod) perPod.set(pod, (perPod.get(pod) ?? 0) + calls);
    const shares = [...perPod].map(([pod]) => `${Math.round(100 * shareOf(perPod, pod))}%`).join(' / ');
    say(
      `| ${arm.name} | ${median(list.map((round) => round.rps)).toFixed(0)} | ${median(list.map((round) => round.meanMs)).toFixed(1)} | ` +
        `${median(list.map((round) => round.p99Ms))} | ${list.reduce((sum, round) => sum + round.failed, 0)} | ` +
        `${watchedPod === undefined ? shares : `${(100 * shareOf(perPod, watchedPod)).toFixed(1)}%`} |`,
    );
  }
  say('');
}

/** The median over rounds of a per-round ratio between two arms (rounds run back to back, so drift cancels). */
function ratio(results: ReadonlyMap<Arm, readonly Round[]>, top: Arm, bottom: Arm, of: (round: Round) => number): number {
  const tops = results.get(top) ?? [];
  const bottoms = results.get(bottom) ?? [];
  return median(tops.map((round, index) => of(round) / of(bottoms[index] as Round)));
}

async function withStack(serverEnvs: Record<string, string>[], arms: readonly Arm[], body: (stack: Stack) => Promise<void>): Promise<void> {
  const stack = await Stack.start(serverEnvs, arms);
  try {
    await body(stack);
  } finally {
    await stack.stop();
  }
}

async function slowPod(settings: Settings): Promise<void> {
  say('\n## 1. One pod slow (GREET_DELAY_MS=50, the others 2)');
  const arms = [ROUND_ROBIN, LEAST_REQUEST];
  await withStack([{ GREET_DELAY_MS: '50' }, { GREET_DELAY_MS: '2' }, { GREET_DELAY_MS: '2' }], arms, async (stack) => {
    await stack.warmUp(arms, settings.connections, 2);
    // Twice the rounds: a ratio of two arms' rounds swings with the load on a shared machine.
    const results = await rounds(stack, arms, settings.rounds * 2, (arm) => stack.measure(arm, settings.connections, settings.durationS));
    table(results, 'greet-0');
    const throughput = ratio(results, LEAST_REQUEST, ROUND_ROBIN, (round) => round.rps);
    const latency = ratio(results, LEAST_REQUEST, ROUND_ROBIN, (round) => round.meanMs);
    goals.push({ goal: '1. slow pod: least_request throughput / round_robin', target: '≥ 1.5', measured: throughput.toFixed(2), met: throughput >= 1.5 });
    goals.push({ goal: '1. slow pod: least_request mean latency / round_robin', target: '≤ 0.6', measured: latency.toFixed(2), met: latency <= 0.6 });
  });
}

interface FreezeTimeline {
  ejectedAfterFreezeMs: number | undefined;
  backAfterThawMs: number | undefined;
}

async function frozenPod(settings: Settings): Promise<void> {
  say(`\n## 2. One pod frozen (SIGSTOP) for ${FREEZE_S} s, ${settings.connections} connections`);
  const arms = [BEFORE, ROUND_ROBIN, LEAST_REQUEST];
  await withStack([{}, {}, {}], arms, async (stack) => {
    const frozen = stack.servers[0];
    if (frozen === undefined) throw new Error('no server to freeze');
    await stack.warmUp(arms, settings.connections, 2);
    const timelines = new Map<Arm, FreezeTimeline[]>(arms.map((arm) => [arm, []]));
    const results = await rounds(stack, arms, settings.freezeRounds, async (arm) => {
      const timeline: FreezeTimeline = { ejectedAfterFreezeMs: undefined, backAfterThawMs: undefined };
      timelines.get(arm)?.push(timeline);
      // An arm that ejects runs until the pod is back: one base ejection time after it thaws, at most.
      const durationS = FREEZE_AT_S + FREEZE_S + (arm === BEFORE ? 4 : BASE_EJECTION_S + 6);
      return stack.measure(arm, settings.connections, durationS, async (startedMs) => {
        await delay(FREEZE_AT_S * 1000);
        frozen.process.child.kill('SIGSTOP');
        const frozeAtMs = performance.now();
        let thawedAtMs: number | undefined;
        try {
          while (performance.now() - startedMs < durationS * 1000 - 500) {
            const nowMs = performance.now();
            if (thawedAtMs === undefined && nowMs - frozeAtMs >= FREEZE_S * 1000) {
              frozen.process.child.kill('SIGCONT');
              thawedAtMs = nowMs;
            }
            const ejected = await stack.ejected(arm, frozen);
            if (ejected) timeline.ejectedAfterFreezeMs ??= performance.now() - frozeAtMs;
            else if (timeline.ejectedAfterFreezeMs !== undefined && thawedAtMs !== undefined) timeline.backAfterThawMs ??= performance.now() - thawedAtMs;
            await delay(100);
          }
        } finally {
          frozen.process.child.kill('SIGCONT');
        }
      });
    });
    table(results);
    say('| policy | round | failed | hedged | ejected after the freeze | back after the thaw |');
    say('|---|---:|---:|---:|---:|---:|');
    for (const arm of arms) {
      (timelines.get(arm) ?? []).forEach((timeline, index) => {
        const seconds = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);
        const round = results.get(arm)?.[index];
        say(`| ${arm.name} | ${index + 1} | ${round?.failed ?? '?'} | ${round?.hedges ?? '?'} | ${seconds(timeline.ejectedAfterFreezeMs)} | ${seconds(timeline.backAfterThawMs)} |`);
      });
    }
    const worst = (arm: Arm): number => Math.max(...(results.get(arm) ?? []).map((round) => round.failed));
    const before = worst(BEFORE);
    goals.push({ goal: '2. frozen pod: failed requests, round_robin + ejection', target: `≤ 25 (before: ${before})`, measured: String(worst(ROUND_ROBIN)), met: worst(ROUND_ROBIN) <= 25 });
    goals.push({ goal: '2. frozen pod: failed requests, least_request', target: '≤ 5', measured: String(worst(LEAST_REQUEST)), met: worst(LEAST_REQUEST) <= 5 });
    const ejection = [ROUND_ROBIN, LEAST_REQUEST].flatMap((arm) => timelines.get(arm) ?? []);
    const slowestEjectionS = Math.max(...ejection.map((timeline) => (timeline.ejectedAfterFreezeMs ?? Number.POSITIVE_INFINITY) / 1000));
    const slowestReturnS = Math.max(...ejection.map((timeline) => (timeline.backAfterThawMs ?? Number.POSITIVE_INFINITY) / 1000));
    goals.push({ goal: '2. frozen pod: ejected after the freeze (slowest)', target: '≤ 3 s', measured: `${slowestEjectionS.toFixed(1)} s`, met: slowestEjectionS <= 3 });
    goals.push({
      goal: '2. frozen pod: back in rotation after the thaw (slowest)',
      target: `≤ ${BASE_EJECTION_S} s`,
      measured: `${slowestReturnS.toFixed(1)} s`,
      met: slowestReturnS <= BASE_EJECTION_S,
    });
  });
}

async function deadPods(settings: Settings): Promise<void> {
  say('\n## 3. Two of three pods dead (SIGKILL) but still listed');
  const arms = [BEFORE, ROUND_ROBIN, LEAST_REQUEST];
  await withStack([{}, {}, {}], arms, async (stack) => {
    await stack.warmUp(arms, settings.connections, 2);
    for (const dead of stack.servers.slice(1)) {
      dead.process.child.kill('SIGKILL');
      await dead.process.waitForExit();
    }
    const results = await rounds(stack, arms, settings.rounds, (arm) => stack.measure(arm, settings.connections, settings.durationS));
    table(results);
    say('| policy | round | requests | failed | failed after the first second |');
    say('|---|---:|---:|---:|---:|');
    for (const [arm, list] of results) {
      list.forEach((round, index) => {
        const after = (100 * round.failedAfterFirstSecond) / Math.max(1, round.requestsAfterFirstSecond);
        say(`| ${arm.name} | ${index + 1} | ${round.answered + round.failed} | ${round.failed} | ${round.failedAfterFirstSecond} (${after.toFixed(3)}%) |`);
      });
    }
    for (const arm of [ROUND_ROBIN, LEAST_REQUEST]) {
      const list = results.get(arm) ?? [];
      const failed = list.reduce((sum, round) => sum + round.failedAfterFirstSecond, 0);
      const requests = list.reduce((sum, round) => sum + round.requestsAfterFirstSecond, 0);
      const percent = (100 * failed) / Math.max(1, requests);
      goals.push({ goal: `3. two pods dead: failed after the first second, ${arm.name}`, target: '< 0.1%', measured: `${percent.toFixed(3)}% (${failed} of ${requests})`, met: percent < 0.1 });
    }
  });
}

async function cpuBurner(settings: Settings): Promise<void> {
  say(`\n## 4. One pod burning ${BURN_CPU_MS} ms of CPU per call (GREET_CPU_MS)`);
  const arms = [ROUND_ROBIN, WEIGHTED];
  await withStack([{ GREET_CPU_MS: String(BURN_CPU_MS) }, {}, {}], arms, async (stack) => {
    await stack.warmUp([ROUND_ROBIN], settings.connections, 2);
    await stack.warmUp([WEIGHTED], settings.connections, WEIGHTS_WARM_UP_S);
    const results = await rounds(stack, arms, settings.rounds, (arm) => stack.measure(arm, settings.connections, settings.durationS));
    table(results, 'greet-0');
    const perPod = new Map<string, number>();
    for (const round of results.get(WEIGHTED) ?? []) for (const [pod, calls] of round.perPod) perPod.set(pod, (perPod.get(pod) ?? 0) + calls);
    const share = shareOf(perPod, 'greet-0');
    goals.push({ goal: '4. CPU-burning pod: its share of calls, weighted_round_robin', target: '< 20%', measured: `${(100 * share).toFixed(1)}%`, met: share < 0.2 });
    const throughput = ratio(results, WEIGHTED, ROUND_ROBIN, (round) => round.rps);
    goals.push({ goal: '4. CPU-burning pod: weighted_round_robin throughput / round_robin', target: '≥ 1.2', measured: throughput.toFixed(2), met: throughput >= 1.2 });
  });
}

async function healthy(settings: Settings): Promise<void> {
  say('\n## 5. All healthy');
  const arms = [BEFORE, ROUND_ROBIN, LEAST_REQUEST];
  await withStack([{}, {}, {}], arms, async (stack) => {
    await stack.warmUp(arms, settings.connections, 2);
    const results = await rounds(stack, arms, settings.rounds * 2, (arm) => stack.measure(arm, settings.connections, settings.durationS));
    table(results);
    for (const arm of [ROUND_ROBIN, LEAST_REQUEST]) {
      const value = ratio(results, arm, BEFORE, (round) => round.rps);
      goals.push({ goal: `5. healthy: ${arm.name} throughput / before`, target: '≥ 0.95', measured: value.toFixed(2), met: value >= 0.95 });
    }
  });
}

const RUNNERS: Readonly<Record<Scenario, (settings: Settings) => Promise<void>>> = { slow: slowPod, frozen: frozenPod, dead: deadPods, cpu: cpuBurner, healthy };

async function main(): Promise<void> {
  const settings = readSettings();
  say(
    `bench-policies: ${settings.scenarios.join(', ')}; ${settings.rounds} rounds of ${settings.durationS} s ` +
      `(frozen: ${settings.freezeRounds}), ${settings.connections} connections, autocannon`,
  );
  for (const scenario of settings.scenarios) await RUNNERS[scenario](settings);
  say('\n## Goals\n');
  say('| goal | target | measured | met |');
  say('|---|---|---|---|');
  for (const goal of goals) say(`| ${goal.goal} | ${goal.target} | ${goal.measured} | ${goal.met ? 'yes' : 'NO'} |`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench-policies failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
