import { spawn, type ChildProcess } from 'node:child_process';

import type { XdsReport } from '../../src/lookaside/xds/ads-report.js';
import { eventually, REPO_ROOT } from './process.js';

/** What a batch of calls came to: answers per pod, errors per "code details". */
export interface CallCounts {
  readonly pods: Record<string, number>;
  readonly errors: Record<string, number>;
}

/**
 * The bootstrap a stock gRPC xDS client needs to use the lookaside as its
 * control plane: insecure channel credentials, xds_v3, and a node with a
 * locality (grpc-js-xds refuses a node without one, with a misleading error).
 */
export function xdsBootstrap(lookasideAddress: string, nodeId: string): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: lookasideAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, locality: { zone: 'test-zone' } },
  });
}

/** test/support/xds-greet-client-main.ts as a child process, driven line by line. */
export class XdsGreetClient {
  private readonly waiting: Array<(counts: CallCounts) => void> = [];
  private buffered = '';
  stderr = '';
  private readonly ready: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk;
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(this.buffered.slice(0, newline)) as CallCounts & { msg?: string };
        this.buffered = this.buffered.slice(newline + 1);
        if (line.msg === 'ready') markReady();
        else this.waiting.shift()?.(line);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
  }

  /**
   * Starts the client; `argv` is the grpc-js-xds one (xds-greet-client-main.ts) unless given,
   * e.g. the Go one (test/xds-go-client), which speaks the same lines.
   */
  static async start(target: string, bootstrap: string, argv: readonly string[] = [process.execPath, `${REPO_ROOT}dist/test/support/xds-greet-client-main.js`]): Promise<XdsGreetClient> {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error('no client to start');
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', XDS_TARGET: target, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap, ...(process.env['XDS_CLIENT_TRACE'] ? { GRPC_TRACE: process.env['XDS_CLIENT_TRACE'], GRPC_VERBOSITY: 'DEBUG' } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const client = new XdsGreetClient(child);
    await Promise.race([
      client.ready,
      new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before it was ready: ${client.stderr}`)))),
    ]);
    return client;
  }

  /** Makes `count` Greet calls one after another, each with `deadlineMs`. */
  calls(count: number, deadlineMs = 5_000): Promise<CallCounts> {
    const reply = new Promise<CallCounts>((resolve) => this.waiting.push(resolve));
    this.child.stdin?.write(`${JSON.stringify({ calls: count, deadlineMs })}\n`);
    return reply;
  }

  /**
   * Calls in small batches until a batch reaches exactly `pods` with no error:
   * a client rotates over connected endpoints, and takes a new endpoint list
   * in once it has connected to it (milliseconds; longer on a busy machine).
   */
  async settledOn(pods: readonly string[], timeoutMs = 20_000): Promise<void> {
    const wanted = [...pods].sort().join(',');
    await eventually(
      async () => {
        const counts = await this.calls(3 * pods.length);
        if (Object.keys(counts.errors).length > 0) throw new Error(`calls failed: ${JSON.stringify(counts.errors)}`);
        return Object.keys(counts.pods).sort().join(',') === wanted ? true : undefined;
      },
      timeoutMs,
      `calls reaching exactly ${wanted}`,
    );
  }

  stop(): void {
    this.child.stdin?.end();
    this.child.kill('SIGTERM');
  }
}

/** The lookaside's `GET /debug/xds` on its metrics port. */
export async function debugXds(metricsPort: number): Promise<XdsReport> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/debug/xds`);
  if (response.status !== 200) throw new Error(`/debug/xds answered ${response.status}`);
  return (await response.json()) as XdsReport;
}

/**
 * Waits until the client with `nodeId` has ACKed an assignment other than
 * `previous` (a client ACKs a response once it has taken it in), and returns its version.
 */
export async function ackedAssignment(metricsPort: number, nodeId: string, previous: string | null): Promise<string> {
  return eventually(
    async () => {
      const stream = (await debugXds(metricsPort)).streams.find((candidate) => candidate.node?.['id'] === nodeId);
      const endpoint = stream?.types.endpoint;
      const acked = endpoint?.acked_version ?? null;
      return acked !== null && acked !== previous && acked === endpoint?.sent_version ? acked : undefined;
    },
    15_000,
    `${nodeId} ACKing a new assignment`,
  );
}
