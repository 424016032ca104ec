/**
 * Builds bench/go-reference/ (the grpc-go reference server of bench-lookaside)
 * once per version of its sources, into ~/.cache/lookaside/ like the kube
 * binaries, and starts it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, runCommand, ServiceProcess } from '../test/support/process.js';
import { BenchError } from './bench-targets.js';

const SOURCES = ['go.mod', 'go.sum', 'main.go'];

/** The path of the built server, building it first when its sources changed (1–4 min cold). */
export async function goReferenceBinary(): Promise<string> {
  const moduleDir = join(REPO_ROOT, 'bench', 'go-reference');
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(readFileSync(join(moduleDir, file)));
  const dir = join(homedir(), '.cache', 'lookaside', `go-reference-${hash.digest('hex').slice(0, 16)}`);
  const binary = join(dir, 'server');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  console.log(`building the Go reference server into ${dir} (once; the module proxy serves grpc-go)…`);
  const { code, stderr } = await runCommand('go', ['-C', moduleDir, 'build', '-trimpath', '-o', binary, '.']);
  if (code !== 0) throw new BenchError(`go build of bench/go-reference failed (${code}): ${stderr}`);
  return binary;
}

/** Starts the reference on a port of its choice, on `cpu` when given (so GOMAXPROCS counts that CPU only). */
export async function startGoReference(binary: string, cpu: number | undefined): Promise<{ process: ServiceProcess; port: number }> {
  const argv = cpu === undefined ? [binary] : ['taskset', '-c', String(cpu), binary];
  const child = ServiceProcess.spawn(argv, { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', LB_HOST: '127.0.0.1', LB_PORT: '0' } });
  try {
    const listening = await child.waitUntilListening(20_000);
    return { process: child, port: Number(listening['port']) };
  } catch (error) {
    await child.stop();
    throw new BenchError(`the Go reference did not start: ${(error as Error).message} ${child.stderr}`);
  }
}
