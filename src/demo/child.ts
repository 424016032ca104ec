import { spawn, type ChildProcess } from 'node:child_process';

/** One line a child wrote, as the launcher shows it. */
export type LineHandler = (line: string, stream: 'stdout' | 'stderr') => void;

/**
 * A demo process (one of our services) started by the launcher. It runs in
 * its own process group, so a Ctrl-C in the terminal reaches only the
 * launcher, which then stops every child in order, once.
 */
export class DemoChild {
  readonly process: ChildProcess;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  private readonly listeners: Array<(line: string) => void> = [];
  /** Set when the launcher asked it to stop, so its exit is not reported as a crash. */
  stopping = false;

  constructor(
    readonly name: string,
    script: string,
    env: Record<string, string>,
    onLine: LineHandler,
    onExit: (child: DemoChild, code: number | null, signal: NodeJS.Signals | null) => void,
  ) {
    this.process = spawn(process.execPath, [script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    splitLines(this.process, 'stdout', (line) => {
      onLine(line, 'stdout');
      for (const listener of this.listeners) listener(line);
    });
    splitLines(this.process, 'stderr', (line) => onLine(line, 'stderr'));
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exitCode = code;
        onExit(this, code, signal);
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves with the first JSON log line whose `msg` is `message`; rejects if the child exits first. */
  waitForLog(message: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not log "${message}" within ${timeoutMs} ms`)), timeoutMs);
      const listener = (line: string): void => {
        const parsed = parseJsonLine(line);
        if (parsed?.['msg'] !== message) return;
        clearTimeout(timer);
        resolve(parsed);
      };
      this.listeners.push(listener);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${String(code)}) before it was ready`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Last resort when the launcher itself is exiting: no waiting possible. */
  killNow(): void {
    if (this.running) this.process.kill('SIGKILL');
  }
}

export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function splitLines(child: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  let buffered = '';
  const source = child[stream];
  source?.setEncoding('utf8');
  source?.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
  source?.on('end', () => {
    if (buffered !== '') onLine(buffered);
  });
}
