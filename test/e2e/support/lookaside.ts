import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { bufCurl, type BufCurlResult } from '../../support/buf-curl.js';
import { eventually, ServiceProcess, type LogLine } from '../../support/process.js';
import { MetricsPage } from './metrics.js';

export const LOOKASIDE_MAIN = 'src/lookaside/main.js';
export const V1_RESOLVE = 'lookaside.v1.Lookaside/Resolve';
export const SEED_RESOLVE = 'lookaside.Lookaside/Resolve';
export const HEALTH_CHECK = 'grpc.health.v1.Health/Check';
export const HEALTH_WATCH = 'grpc.health.v1.Health/Watch';

/** One endpoint of the endpoints file (src/lookaside/discovery/endpoints-file.ts). */
export interface FileEndpoint {
  readonly address: string;
  readonly pod?: string;
  readonly zone?: string;
  readonly node?: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
  readonly port_name?: string;
}

export interface FileService {
  readonly namespace?: string;
  readonly name: string;
  readonly endpoints: readonly FileEndpoint[];
}

/** `routes` are GRPCRoutes as the endpoints file takes them (src/lookaside/routing/file-routes.ts). */
export function endpointsYaml(services: readonly FileService[], routes?: readonly unknown[]): string {
  return stringify(routes === undefined ? { services } : { services, routes });
}

/** lookaside.v1 ResolveResponse as `buf curl` prints it (proto3 JSON: camelCase, defaults left out). */
export interface V1Answer {
  readonly address: string;
  readonly ip: string;
  readonly port: number;
  readonly podName: string;
  readonly zone: string;
  readonly nodeName: string;
  readonly readyEndpoints: number;
}

/** A gRPC error as `buf curl` prints it: `code` in snake case (`invalid_argument`). */
export interface CallError {
  readonly code: string;
  readonly message: string;
}

export interface StartOptions {
  /** Content of the endpoints file. */
  readonly services: readonly FileService[];
  /** The file's `routes` list, if any. */
  readonly routes?: readonly unknown[];
  /** Added to (and overriding) the defaults: loopback, port 0, the endpoints file. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The built lookaside process on loopback, serving a temporary endpoints file,
 * with helpers to call it through `buf curl` and to scrape its metrics.
 */
export class RunningLookaside {
  private constructor(
    readonly process: ServiceProcess,
    readonly directory: string,
    readonly endpointsFile: string,
    readonly port: number,
    readonly metricsPort: number,
  ) {}

  /** Starts the process and waits for its "listening" line; cleans up if it never comes. */
  static async start(options: StartOptions): Promise<RunningLookaside> {
    const directory = await mkdtemp(join(tmpdir(), 'lookaside-e2e-'));
    const endpointsFile = join(directory, 'endpoints.yaml');
    await writeFile(endpointsFile, endpointsYaml(options.services, options.routes));
    const process = ServiceProcess.start(LOOKASIDE_MAIN, {
      LB_HOST: '127.0.0.1',
      LB_PORT: '0',
      METRICS_PORT: '0',
      ENDPOINTS_FILE: endpointsFile,
      ...options.env,
    });
    try {
      const listening = await process.waitUntilListening();
      return new RunningLookaside(process, directory, endpointsFile, numberField(listening, 'port'), numberField(listening, 'metricsPort'));
    } catch (error) {
      await process.stop();
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /** `host:port` of the gRPC server, as `buf curl` wants it. */
  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.metricsPort}/metrics`;
  }

  /** True while the process has not exited. */
  get alive(): boolean {
    return this.process.child.exitCode === null && this.process.child.signalCode === null;
  }

  call(method: string, request: unknown): Promise<BufCurlResult> {
    return bufCurl(this.target, method, request);
  }

  /** A lookaside.v1 Resolve that must succeed. */
  async resolve(request: Record<string, unknown>): Promise<V1Answer> {
    return toV1Answer(expectSuccess(await this.call(V1_RESOLVE, request), V1_RESOLVE));
  }

  /** A lookaside.v1 Resolve that must fail; returns the error. */
  async resolveError(request: Record<string, unknown>): Promise<CallError> {
    return expectFailure(await this.call(V1_RESOLVE, request), V1_RESOLVE, request);
  }

  /** A seed `lookaside.Lookaside/Resolve` that must succeed; returns `address`. */
  async resolveSeed(request: Record<string, unknown>): Promise<string> {
    const body = expectSuccess(await this.call(SEED_RESOLVE, request), SEED_RESOLVE);
    return stringField(body, 'address');
  }

  async seedError(request: Record<string, unknown>): Promise<CallError> {
    return expectFailure(await this.call(SEED_RESOLVE, request), SEED_RESOLVE, request);
  }

  /** Health Check status (`SERVING`, …) of one service name; "" is the whole server. */
  async healthStatus(service: string): Promise<string> {
    const body = expectSuccess(await this.call(HEALTH_CHECK, { service }), HEALTH_CHECK);
    return stringField(body, 'status');
  }

  /** GET /metrics over HTTP, checked for status and content type. */
  async scrape(): Promise<MetricsPage> {
    const response = await fetch(this.metricsUrl);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text}`);
    return new MetricsPage(text, response.headers.get('content-type') ?? '');
  }

  /** Replaces the endpoints file in place (truncate and write), as `echo > file` does. */
  async rewriteEndpoints(content: readonly FileService[] | string): Promise<void> {
    await writeFile(this.endpointsFile, typeof content === 'string' ? content : endpointsYaml(content));
  }

  /** Replaces the endpoints file atomically (write a sibling, rename over), as editors and ConfigMaps do. */
  async replaceEndpoints(content: readonly FileService[] | string): Promise<void> {
    const sibling = join(this.directory, `.endpoints.yaml.${Date.now()}.tmp`);
    await writeFile(sibling, typeof content === 'string' ? content : endpointsYaml(content));
    await rename(sibling, this.endpointsFile);
  }

  /** Waits for a log line written after `fromIndex` (an earlier `process.logs.length`). */
  waitForLogAfter(fromIndex: number, predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return eventually(() => this.process.logs.slice(fromIndex).find(predicate), timeoutMs, 'log line');
  }

  /** SIGTERM, wait for the exit, remove the temporary directory; returns the exit code. */
  async stop(): Promise<number | null> {
    const code = await this.process.stop();
    await rm(this.directory, { recursive: true, force: true });
    return code;
  }
}

/**
 * Tracks the processes a test file starts, so after/afterEach can stop all of
 * them even when a test fails half-way.
 */
export class ProcessGroup {
  private readonly lookasides = new Set<RunningLookaside>();
  private readonly processes = new Set<ServiceProcess>();

  async start(options: StartOptions): Promise<RunningLookaside> {
    const lookaside = await RunningLookaside.start(options);
    this.lookasides.add(lookaside);
    return lookaside;
  }

  /** Starts the lookaside with exactly `env` (plus PATH and HOME), for start-up failures. */
  startRaw(env: Readonly<Record<string, string>>): ServiceProcess {
    const process = ServiceProcess.start(LOOKASIDE_MAIN, { ...env });
    this.processes.add(process);
    return process;
  }

  async stopAll(): Promise<void> {
    const stopping = [...this.lookasides].map((lookaside) => lookaside.stop());
    stopping.push(...[...this.processes].map((process) => process.stop()));
    this.lookasides.clear();
    this.processes.clear();
    await Promise.all(stopping);
  }
}

/**
 * Runs `task(0…count-1)` with at most `concurrency` in flight; results in index
 * order. `buf curl` is CPU-bound (~0.2 s a call), so a few at a time is fastest.
 */
export async function callMany<T>(count: number, task: (index: number) => Promise<T>, concurrency = 4): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
  return results;
}

/** How many times each value occurs. */
export function tally(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function expectSuccess(result: BufCurlResult, method: string): Record<string, unknown> {
  if (result.exitCode !== 0 || result.body === undefined) {
    throw new Error(`${method} failed (buf exit ${result.exitCode}): ${result.stderr.trim()}`);
  }
  return result.body;
}

function expectFailure(result: BufCurlResult, method: string, request: unknown): CallError {
  if (result.exitCode === 0) {
    throw new Error(`${method} ${JSON.stringify(request).slice(0, 200)} succeeded, expected an error: ${result.stdout.trim()}`);
  }
  const body = result.body;
  if (body === undefined || typeof body['code'] !== 'string') {
    throw new Error(`${method} failed without a gRPC error (buf exit ${result.exitCode}): ${result.stderr.trim()}`);
  }
  return { code: body['code'], message: typeof body['message'] === 'string' ? body['message'] : '' };
}

function toV1Answer(body: Record<string, unknown>): V1Answer {
  return {
    address: stringField(body, 'address'),
    ip: stringField(body, 'ip'),
    port: numberField(body, 'port'),
    podName: optionalString(body, 'podName'),
    zone: optionalString(body, 'zone'),
    nodeName: optionalString(body, 'nodeName'),
    readyEndpoints: numberField(body, 'readyEndpoints'),
  };
}

function stringField(object: Readonly<Record<string, unknown>>, key: string): string {
  const value = object[key];
  if (typeof value !== 'string') throw new Error(`expected a string "${key}" in ${JSON.stringify(object)}`);
  return value;
}

/** proto3 JSON leaves out fields holding their default value. */
function optionalString(object: Readonly<Record<string, unknown>>, key: string): string {
  return object[key] === undefined ? '' : stringField(object, key);
}

function numberField(object: Readonly<Record<string, unknown>>, key: string): number {
  const value = object[key];
  if (typeof value !== 'number') throw new Error(`expected a number "${key}" in ${JSON.stringify(object)}`);
  return value;
}
