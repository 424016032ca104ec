import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { REPO_ROOT } from '../test/support/process.js';

/** Helpers the benchmarks share: their settings from the environment, and what a process holds in memory. */

/** A whole number ≥ 1 from the environment, or `fallback` when unset. */
export function envInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw}: expected a whole number ≥ 1`);
  return value;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/**
 * The node flags the image's entrypoint (deploy/node-limits.sh) gives the
 * lookaside under the memory limit deploy/base sets for it.
 */
export function deployedNodeFlags(): string[] {
  const text = readFileSync(join(REPO_ROOT, 'deploy/base/lookaside.yaml'), 'utf8');
  let limit: string | undefined;
  for (const document of parseAllDocuments(text)) {
    const object = document.toJSON() as Deployment | null;
    const container = object?.kind === 'Deployment' ? object.spec?.template?.spec?.containers?.find((c) => c.name === 'lookaside') : undefined;
    limit = container?.resources?.limits?.memory ?? limit;
  }
  const mebibytes = /^(\d+)Mi$/.exec(limit ?? '')?.[1];
  if (mebibytes === undefined) throw new Error(`deploy/base/lookaside.yaml: the lookaside's memory limit is ${limit}, expected <n>Mi`);
  const dir = mkdtempSync(join(tmpdir(), 'node-limits-'));
  try {
    writeFileSync(join(dir, 'memory.max'), String(Number(mebibytes) * 2 ** 20));
    const result = spawnSync('sh', [join(REPO_ROOT, 'deploy/node-limits.sh'), '--print-flags'], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', NODE_LIMITS_MEMORY_FILE: join(dir, 'memory.max') },
    });
    if (result.status !== 0) throw new Error(`deploy/node-limits.sh --print-flags failed: ${result.stderr}`);
    return result.stdout.split(/\s+/).filter((flag) => flag !== '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Deployment {
  kind?: string;
  spec?: { template?: { spec?: { containers?: Array<{ name: string; resources?: { limits?: { memory?: string } } }> } } };
}
