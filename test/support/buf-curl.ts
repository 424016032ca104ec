import { execFile, spawn } from 'node:child_process';

import { REPO_ROOT, runCommand } from './process.js';

const BUF = `${REPO_ROOT}node_modules/.bin/buf`;

export interface BufCurlResult {
  /** 0 when the call succeeded. */
  readonly exitCode: number;
  /** The response message (success) or the error object `{code, message}` (failure), parsed. */
  readonly body: Record<string, unknown> | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Calls a method through `buf curl`, a real reflection client: it learns the
 * schema from the server's reflection service, as grpcurl does. `target` is
 * `host:port` (plaintext HTTP/2), or `https://host:port` for TLS (with
 * `--cacert`, `--cert`, `--key` in `extraArgs`).
 */
export function bufCurl(target: string, method: string, request: unknown, extraArgs: string[] = []): Promise<BufCurlResult> {
  const tls = target.startsWith('https://');
  const args = ['curl', '--protocol', 'grpc', ...(tls ? [] : ['--http2-prior-knowledge']), '--timeout', '10s', ...extraArgs];
  if (request !== undefined) args.push('-d', JSON.stringify(request));
  args.push(`${tls ? target : `http://${target}`}/${method}`);
  return run(args);
}

/** `buf curl --list-methods`: every method the server's reflection lists. */
export async function bufListMethods(target: string): Promise<string[]> {
  const result = await run(['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', `http://${target}`]);
  if (result.exitCode !== 0) throw new Error(`buf curl --list-methods failed: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line.trim() !== '');
}

function run(args: string[]): Promise<BufCurlResult> {
  return new Promise((resolve) => {
    execFile(BUF, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ exitCode, body: parseObject(exitCode === 0 ? stdout : stderr), stdout, stderr });
    });
  });
}

/** A streaming `buf curl` call still running: its output so far, and its end. */
export interface BufCurlStream {
  /** Everything printed on stdout so far (one JSON object per streamed message). */
  output(): string;
  /** Resolves when buf exits, whatever the outcome. */
  readonly done: Promise<BufCurlResult>;
  /** Ends the call if it is still running. */
  kill(): void;
}

/**
 * Starts a server-streaming call (e.g. grpc.health.v1.Health/Watch) and lets the
 * test read the messages as they arrive instead of only at the end.
 */
export function bufCurlStream(target: string, method: string, request: unknown): BufCurlStream {
  const args = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', JSON.stringify(request), `http://${target}/${method}`];
  const child = spawn(BUF, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<BufCurlResult>((resolve) => {
    child.on('close', (code) => {
      const exitCode = code ?? 1;
      resolve({ exitCode, body: exitCode === 0 ? undefined : parseObject(stderr), stdout, stderr });
    });
  });
  return {
    output: () => stdout,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * A bidi (or client-streaming) call through `buf curl -d @-`: sends every
 * request on stdin, closes it, and returns the answers buf printed, in order.
 */
export async function bufCurlBidi(
  target: string,
  method: string,
  requests: readonly unknown[],
): Promise<BufCurlResult & { readonly messages: Record<string, unknown>[] }> {
  const args = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--timeout', '10s', '-d', '@-', `http://${target}/${method}`];
  const { code, stdout, stderr } = await runCommand(BUF, args, requests.map((request) => JSON.stringify(request)).join('\n'));
  const exitCode = code ?? 1;
  // buf pretty-prints one object per message; top-level objects start and end at column 0.
  const joined = stdout.trim() === '' ? '[]' : `[${stdout.trim().replace(/\n}\n{/g, '\n},\n{')}]`;
  return {
    exitCode,
    body: exitCode === 0 ? undefined : parseObject(stderr),
    stdout,
    stderr,
    messages: JSON.parse(joined) as Record<string, unknown>[],
  };
}

/** buf prints a message, or an error `{code, message}`, as one JSON object. */
function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
