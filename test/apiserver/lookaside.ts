import { credentials, loadPackageDefinition, status as Status, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

import { killOnExit } from '../support/control-plane.js';
import { delay, REPO_ROOT, ServiceProcess } from '../support/process.js';

/**
 * The built lookaside (dist/src/lookaside/main.js) running against a real API
 * server through a kubeconfig, exactly as in a cluster, with a gRPC client
 * that reads its view of a Service by rotating Resolve.
 */

export type ResolveAnswer =
  | { readonly ok: true; readonly address: string; readonly readyEndpoints: number }
  | { readonly ok: false; readonly code: string; readonly details: string };

/**
 * What Resolve says about a Service: the sorted set of addresses one full
 * round-robin rotation hands out, or the gRPC status code it fails with.
 */
export type View = ReadyView | ErrorView;
export interface ReadyView {
  readonly kind: 'ready';
  readonly addresses: readonly string[];
}
export interface ErrorView {
  readonly kind: 'error';
  readonly code: string;
}

export function readyView(addresses: Iterable<string>): ReadyView {
  return { kind: 'ready', addresses: [...addresses].sort() };
}

export function errorView(code: 'NOT_FOUND' | 'UNAVAILABLE' | 'PERMISSION_DENIED'): ErrorView {
  return { kind: 'error', code };
}

export function describeView(view: View | undefined): string {
  if (view === undefined) return '(none)';
  if (view.kind === 'error') return view.code;
  const shown = view.addresses.slice(0, 6).join(', ');
  return `${view.addresses.length} ready [${shown}${view.addresses.length > 6 ? ', …' : ''}]`;
}

export function sameView(a: View, b: View): boolean {
  if (a.kind === 'error' || b.kind === 'error') return a.kind === 'error' && b.kind === 'error' && a.code === b.code;
  return a.addresses.length === b.addresses.length && a.addresses.every((address, i) => address === b.addresses[i]);
}

const CODE_NAMES = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name])) as Record<number, string>;

interface V1Client extends Client {
  Resolve(
    request: { service: string; namespace: string; policy: string },
    options: { deadline: number },
    callback: (error: ServiceError | null, response?: { address: string; ready_endpoints: number }) => void,
  ): void;
}

export class LookasideUnderTest {
  private constructor(
    readonly process: ServiceProcess,
    readonly port: number,
    readonly metricsPort: number,
    private readonly client: V1Client,
  ) {}

  /**
   * Starts the lookaside with DISCOVERY=kubernetes and `kubeconfig`. The
   * periodic full re-list is pushed out to an hour, so every change a test
   * sees arrived through the watch (or a re-list after a watch failure).
   */
  static async start(kubeconfig: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []): Promise<LookasideUnderTest> {
    const child = ServiceProcess.start('src/lookaside/main.js', {
      DISCOVERY: 'kubernetes',
      KUBECONFIG: kubeconfig,
      LB_HOST: '127.0.0.1',
      LB_PORT: '0',
      METRICS_PORT: '0',
      REFRESH_INTERVAL_SECONDS: '3600',
      LOG_LEVEL: 'info',
      ...env,
    }, nodeArgs);
    killOnExit(child.child);
    const listening = await child.waitUntilListening(30_000);
    const port = Number(listening['port']);
    const definition = loadSync('lookaside/v1/lookaside.proto', {
      keepCase: true,
      enums: String,
      defaults: true,
      includeDirs: [`${REPO_ROOT}proto`],
    });
    const Constructor = (loadPackageDefinition(definition) as unknown as {
      lookaside: { v1: { Lookaside: new (target: string, creds: ReturnType<typeof credentials.createInsecure>) => V1Client } };
    }).lookaside.v1.Lookaside;
    const client = new Constructor(`127.0.0.1:${port}`, credentials.createInsecure());
    return new LookasideUnderTest(child, port, Number(listening['metricsPort']), client);
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** One round-robin Resolve. */
  resolve(namespace: string, service: string, timeoutMs = 10_000): Promise<ResolveAnswer> {
    return new Promise((resolve) => {
      this.client.Resolve(
        { service, namespace, policy: 'ROUND_ROBIN' },
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error !== null) resolve({ ok: false, code: CODE_NAMES[error.code] ?? String(error.code), details: error.details });
          else resolve({ ok: true, address: response?.address ?? '', readyEndpoints: response?.ready_endpoints ?? 0 });
        },
      );
    });
  }

  /**
   * Resolve's current view: one full rotation (ready_endpoints calls). Undefined
   * when the endpoint set changed during the rotation; ask again.
   */
  async view(namespace: string, service: string, first?: ResolveAnswer): Promise<View | undefined> {
    const answer = first ?? (await this.resolve(namespace, service));
    if (!answer.ok) return { kind: 'error', code: answer.code };
    const seen = new Set([answer.address]);
    for (let i = 1; i < answer.readyEndpoints; i++) {
      const next = await this.resolve(namespace, service);
      if (!next.ok || next.readyEndpoints !== answer.readyEndpoints) return undefined;
      seen.add(next.address);
    }
    // Round robin hands out every endpoint once per rotation; fewer distinct means it changed mid-way.
    return seen.size === answer.readyEndpoints ? readyView(seen) : undefined;
  }

  /**
   * Polls Resolve until its view equals `expected` and returns how long that took
   * (from `sinceMs`, e.g. when the API acknowledged the write). A cheap single
   * call is compared first; a full rotation confirms.
   */
  async waitForView(
    namespace: string,
    service: string,
    expected: View,
    options: { sinceMs?: number; timeoutMs?: number } = {},
  ): Promise<number> {
    const sinceMs = options.sinceMs ?? Date.now();
    const timeoutMs = options.timeoutMs ?? 15_000;
    const deadline = sinceMs + timeoutMs;
    let last: View | undefined;
    for (;;) {
      const probedAtMs = Date.now();
      const answer = await this.resolve(namespace, service);
      const plausible =
        expected.kind === 'error'
          ? !answer.ok && answer.code === expected.code
          : answer.ok && answer.readyEndpoints === expected.addresses.length;
      if (plausible) {
        last = await this.view(namespace, service, answer);
        if (last !== undefined && sameView(last, expected)) return probedAtMs - sinceMs;
      } else {
        last = answer.ok ? undefined : { kind: 'error', code: answer.code };
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Resolve(${namespace}/${service}) did not show ${describeView(expected)} within ${timeoutMs} ms; ` +
            `last seen: ${answer.ok ? `${answer.readyEndpoints} ready` : `${answer.code}: ${answer.details}`} ${describeView(last)}`,
        );
      }
      await delay(2);
    }
  }

  /** The Prometheus text from /metrics. */
  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    return response.text();
  }

  /**
   * The sum of the samples of `name` whose labels include `labels` (other
   * labels, such as the registry's default `app`, may be present); 0 when none.
   */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    let sum = 0;
    for (const line of (await this.metrics()).split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null || match[1] !== name) continue;
      const present = match[2] ?? '';
      if (Object.entries(labels).every(([label, value]) => present.includes(`${label}="${value}"`))) sum += Number(match[3]);
    }
    return sum;
  }

  get running(): boolean {
    return this.process.child.exitCode === null && this.process.child.signalCode === null;
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.process.stop();
  }
}
