import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/test/support/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface LogLine {
  readonly msg?: string;
  readonly level?: number;
  readonly [key: string]: unknown;
}

/**
 * A built service (dist/src/…/main.js) running as a child process, with its
 * JSON log lines collected so tests can wait for them.
 */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      child.on('error', (error) => {
        this.stderr += `cannot start: ${error.message}\n`;
        this.exitCode = null;
        resolve(null);
      });
    });
  }

  /** Starts `dist/<script>` with `env` added to a minimal environment; `nodeArgs` go before the script. */
  static start(script: string, env: Record<string, string>, nodeArgs: readonly string[] = []): ServiceProcess {
    const child = spawn(process.execPath, [...nodeArgs, `${REPO_ROOT}dist/${script}`], {
      cwd: REPO_ROOT,
      // One lookaside process unless a test asks for workers: LB_WORKERS's default is this machine's CPUs.
      env: { PATH: process.env['PATH'] ?? '', HOME: '/nonexistent', LB_WORKERS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ServiceProcess(child);
  }

  /**
   * Starts `argv` in `cwd` with exactly `env`, as a container runtime would
   * start an image's command (test/deploy/ runs the image's programs this way).
   */
  static spawn(argv: readonly string[], options: { readonly cwd: string; readonly env: Record<string, string> }): ServiceProcess {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error('nothing to start');
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new ServiceProcess(child);
  }

  /** Waits for the first log line that matches, failing after `timeoutMs` or if the process exits. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(predicate);
      if (found !== undefined) return found;
      if (this.exitCode !== undefined) {
        throw new Error(`process exited (${this.exitCode}) before the expected log line; stderr: ${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; logs: ${JSON.stringify(this.logs.slice(-5))}`);
      await delay(20);
    }
  }

  /** Waits for the "listening" line and returns it (it carries `port` and `metricsPort`). */
  waitUntilListening(timeoutMs = 10_000): Promise<LogLine> {
    return this.waitForLog((line) => line.msg === 'listening', timeoutMs);
  }

  /** Resolves with the exit code; kills the process if it has not exited within `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends SIGTERM and waits for the exit. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill('SIGTERM');
    return this.waitForExit(timeoutMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await delay(10);
  }
}

/** A loopback port nobody listens on (free a moment ago), for "server unreachable" tests. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end with `input` on stdin, collecting its output; rejects only if it cannot start. */
export function runCommand(binary: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits without reading its input closes the pipe first; the EPIPE says nothing of the command.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}
