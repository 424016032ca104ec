import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { readInteger, type Env } from '../../common/config.js';

/** More gRPC edge processes than this is a typo, not a machine: each costs ~50 MB. */
export const MAX_WORKERS = 64;

/** cgroup v2's CPU bandwidth limit of this container: `<quota> <period>`, or `max <period>` for none. */
const CGROUP_CPU_MAX = '/sys/fs/cgroup/cpu.max';

/**
 * The CPUs this process may use: the smaller of the CPUs it may be scheduled
 * on (`os.availableParallelism()`, which honours affinity such as taskset)
 * and the container's CPU limit rounded up (cgroup v2 cpu.max), at least 1.
 */
export function containerCpus(readText: (path: string) => string = (path) => readFileSync(path, 'utf8')): number {
  const schedulable = availableParallelism();
  const limit = cgroupCpuLimit(readText);
  return Math.max(1, limit === undefined ? schedulable : Math.min(schedulable, limit));
}

/** The cgroup v2 limit in whole CPUs (rounded up), or undefined when there is none or it cannot be read. */
export function cgroupCpuLimit(readText: (path: string) => string): number | undefined {
  let text: string;
  try {
    text = readText(CGROUP_CPU_MAX);
  } catch {
    return undefined;
  }
  const [quota = '', period = ''] = text.trim().split(/\s+/);
  const quotaMicros = Number(quota);
  const periodMicros = Number(period);
  if (quota === 'max' || !(quotaMicros > 0) || !(periodMicros > 0)) return undefined;
  return Math.ceil(quotaMicros / periodMicros);
}

/** LB_WORKERS: gRPC edge processes; by default one per CPU the container may use (at most MAX_WORKERS). */
export function readWorkerCount(env: Env, cpus: number): number {
  return readInteger(env, 'LB_WORKERS', Math.min(Math.max(1, cpus), MAX_WORKERS), { min: 1, max: MAX_WORKERS });
}
