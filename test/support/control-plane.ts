import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { constants, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { KubeClient } from './kube-client.js';
import { delay, REPO_ROOT, runCommand, type CommandResult } from './process.js';

/**
 * A real control plane for tests, the way controller-runtime's envtest runs one:
 * etcd and kube-apiserver as child processes on loopback, free ports, a temp
 * directory, RBAC on, an admin token in system:masters. No controllers run, so
 * tests write EndpointSlices themselves.
 */

/** How long etcd or kube-apiserver may take to become ready (the CPU is shared in CI). */
export const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
const READY_POLL_MS = 100;

export interface ControlPlaneBinaries {
  readonly dir: string;
  readonly kubeApiserver: string;
  readonly etcd: string;
  readonly kubectl: string;
}

/** The Kubernetes version test/kube/build.sh builds (test/kube/VERSION). */
export function kubeVersion(): string {
  return readFileSync(join(REPO_ROOT, 'test/kube/VERSION'), 'utf8').trim();
}

/**
 * Where test/kube/build.sh puts the binaries: $LOOKASIDE_KUBE_BIN when set,
 * else the version-keyed cache directory (same rule as the script).
 */
export function binariesDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['LOOKASIDE_KUBE_BIN'];
  if (explicit !== undefined && explicit !== '') return explicit;
  return join(testCacheRoot(env), `kube-${kubeVersion()}`);
}

/** The cache test/kube/build.sh and test/xds-go-client/build.sh build into (same rule as the scripts). */
export function testCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['LOOKASIDE_KUBE_CACHE'] || join(env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache'), 'lookaside');
}

/** The binaries, or a sentence saying which are missing and how to build them. */
export function findBinaries(dir = binariesDirectory()): ControlPlaneBinaries | string {
  const binaries = {
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubectl: join(dir, 'kubectl'),
  };
  const missing = [binaries.kubeApiserver, binaries.etcd, binaries.kubectl].filter((path) => !isExecutable(path));
  if (missing.length === 0) return binaries;
  return `missing ${missing.join(', ')}; build them with \`make kube-binaries\` (test/kube/build.sh, 10-20 min cold)`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ControlPlaneOptions {
  readonly binaries: ControlPlaneBinaries;
  /** Extra kube-apiserver flags, e.g. `--watch-cache-sizes=...`. */
  readonly apiserverArgs?: readonly string[];
}

/** Children and temp directories to clean up if the test process exits without stopping them. */
const liveChildren = new Set<ChildProcess>();
const liveDirectories = new Set<string>();
let exitHooksInstalled = false;

function cleanUpNow(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of liveDirectories) rmSync(dir, { recursive: true, force: true });
}

/**
 * Kills `child` (SIGKILL) if the test process exits, or is interrupted, before
 * it ended; Node's default SIGINT/SIGTERM handling would leave it running.
 */
export function killOnExit(child: ChildProcess): void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.on('exit', cleanUpNow);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        cleanUpNow();
        process.exit(128 + constants.signals[signal]);
      });
    }
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

type Component = 'etcd' | `kube-apiserver-${number}`;

/**
 * One kube-apiserver process on a fixed port, which can be stopped and started
 * again on the same port, certificates and etcd.
 */
export class Apiserver {
  /** A client with the admin token (system:masters). */
  readonly admin: KubeClient;
  private child: ChildProcess | undefined;

  constructor(
    private readonly plane: ControlPlane,
    readonly port: number,
    private args: readonly string[],
  ) {
    this.admin = new KubeClient({ server: this.server, token: plane.adminToken, ca: () => this.caCertificate() });
  }

  /** https://127.0.0.1:<port> */
  get server(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The self-signed CA kube-apiserver generated in its --cert-dir (reused across restarts). */
  get caFile(): string {
    return join(this.certDir, 'apiserver.crt');
  }

  caCertificate(): Buffer {
    return readFileSync(this.caFile);
  }

  /** Its serving certificate (with the CA) and key, for a test proxy that stands in for it over TLS. */
  servingCertificate(): { cert: Buffer; key: Buffer } {
    return { cert: this.caCertificate(), key: readFileSync(join(this.certDir, 'apiserver.key')) };
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get component(): Component {
    return `kube-apiserver-${this.port}`;
  }

  private get certDir(): string {
    return join(this.plane.dir, `certs-${this.port}`);
  }

  /** Starts the process and waits for /readyz; `args` replaces the extra flags given before. */
  async start(args: readonly string[] = this.args): Promise<void> {
    if (this.child !== undefined) throw new Error(`${this.component} is already running`);
    this.args = args;
    const dir = this.plane.dir;
    const child = this.plane.spawnLogged(this.component, this.plane.binaries.kubeApiserver, [
      `--etcd-servers=${this.plane.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.port}`,
      '--endpoint-reconciler-type=none',
      `--cert-dir=${this.certDir}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--service-cluster-ip-range=10.0.0.0/24',
      ...args,
    ]);
    this.child = child;
    this.admin.close();
    await this.plane.waitUntil(this.component, child, async () => {
      if (!existsSync(this.caFile)) return false;
      const answer = await this.admin.request('GET', '/readyz', undefined, { allowErrors: true, timeoutMs: 5_000 });
      return answer.status === 200;
    });
  }

  /**
   * SIGTERM, then SIGKILL after `graceMs`. kube-apiserver stops listening at
   * once but keeps open watch streams until it is killed, as a real one does
   * until its pod's grace period runs out.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.admin.close();
    if (child !== undefined) await terminate(child, graceMs);
  }
}

/** A running etcd with one or more kube-apiservers on it. */
export class ControlPlane {
  /** The first API server; tests may start more on the same etcd. */
  readonly apiserver: Apiserver;
  /** A kubeconfig with the admin token for the first API server, for kubectl and the lookaside. */
  readonly adminKubeconfig: string;
  private readonly apiservers: Apiserver[] = [];
  private etcd: ChildProcess | undefined;
  private stopped = false;

  private constructor(
    readonly binaries: ControlPlaneBinaries,
    /** Temp directory: etcd data, certificates, keys, tokens, kubeconfigs, logs. */
    readonly dir: string,
    readonly etcdPort: number,
    apiserverPort: number,
    readonly adminToken: string,
    apiserverArgs: readonly string[],
  ) {
    this.apiserver = new Apiserver(this, apiserverPort, apiserverArgs);
    this.apiservers.push(this.apiserver);
    this.adminKubeconfig = this.writeKubeconfig('admin', adminToken);
  }

  /** Starts etcd, then kube-apiserver, and waits until /readyz answers ok. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const dir = mkdtempSync(join(tmpdir(), 'lookaside-kube-'));
    liveDirectories.add(dir);
    const [etcdPort, etcdPeerPort, apiserverPort] = [await freePort(), await freePort(), await freePort()];
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });
    // One key both signs service-account tokens and verifies them.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const plane = new ControlPlane(options.binaries, dir, etcdPort, apiserverPort, adminToken, options.apiserverArgs ?? []);
    try {
      await plane.startEtcd(etcdPeerPort);
      await plane.apiserver.start();
    } catch (error) {
      await plane.stop({ keepDirectory: true });
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n(logs kept in ${dir})`, { cause: error });
    }
    return plane;
  }

  /** The admin's client for the first API server. */
  get admin(): KubeClient {
    return this.apiserver.admin;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.etcdPort}`;
  }

  /** Starts another kube-apiserver on the same etcd (an HA control plane). */
  async addApiserver(args: readonly string[] = []): Promise<Apiserver> {
    const apiserver = new Apiserver(this, await freePort(), args);
    this.apiservers.push(apiserver);
    await apiserver.start();
    return apiserver;
  }

  /**
   * Writes a kubeconfig for `token` and returns its path. By default it points
   * at the first API server (https, verified against its CA); pass another
   * Apiserver, a plain http:// address to go through a test proxy, or a
   * server and the CA file that verifies it (a TLS test proxy).
   */
  writeKubeconfig(name: string, token: string, target: Apiserver | string | { server: string; caFile: string } = this.apiserver): string {
    const path = join(this.dir, `kubeconfig-${name}.json`);
    // @kubernetes/client-node refuses a plain http:// server unless TLS verification is (pointlessly) off.
    const cluster =
      typeof target === 'string'
        ? { server: target, 'insecure-skip-tls-verify': true }
        : { server: target.server, 'certificate-authority': target.caFile };
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'test', user: name } }],
      'current-context': name,
    };
    writeFileSync(path, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
    return path;
  }

  /** Runs the kubectl built with the control plane, as the admin unless `kubeconfig` says otherwise. */
  kubectl(args: readonly string[], options: { kubeconfig?: string; input?: string } = {}): Promise<CommandResult> {
    return runCommand(this.binaries.kubectl, ['--kubeconfig', options.kubeconfig ?? this.adminKubeconfig, ...args], options.input);
  }

  /**
   * Compacts etcd's history up to its current revision (what kube-apiserver's
   * compactor does every 5 minutes) and returns that revision. A watch from an
   * older resourceVersion that is served from etcd then ends with 410 Gone.
   */
  async compactEtcd(): Promise<number> {
    const range = (await postJson(`${this.etcdUrl}/v3/kv/range`, { key: Buffer.from('/').toString('base64') })) as {
      header?: { revision?: string };
    };
    const revision = Number(range.header?.revision);
    if (!Number.isSafeInteger(revision) || revision <= 0) throw new Error(`etcd gave no revision: ${JSON.stringify(range)}`);
    await postJson(`${this.etcdUrl}/v3/kv/compaction`, { revision: String(revision), physical: true });
    return revision;
  }

  /** Stops every kube-apiserver, then etcd; removes the temp directory unless asked to keep it. */
  async stop(options: { keepDirectory?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.apiservers.map((apiserver) => apiserver.stop()));
    if (this.etcd !== undefined) await terminate(this.etcd);
    this.etcd = undefined;
    liveDirectories.delete(this.dir);
    if (!options.keepDirectory) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last lines a component wrote, for error messages. */
  logTail(component: Component, lines = 20): string {
    try {
      return readFileSync(join(this.dir, `${component}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** @internal for Apiserver */
  spawnLogged(component: Component, binary: string, args: string[]): ChildProcess {
    const log = openSync(join(this.dir, `${component}.log`), 'a');
    try {
      const child = spawn(binary, args, { cwd: this.dir, stdio: ['ignore', log, log] });
      killOnExit(child);
      return child;
    } finally {
      closeSync(log);
    }
  }

  /** @internal for Apiserver: polls `ready` until it holds, the child exits, or the deadline passes. */
  async waitUntil(component: Component, child: ChildProcess, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${component} exited (${child.exitCode ?? child.signalCode}) while starting; its log ends:\n${this.logTail(component)}`);
      }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        throw new Error(`${component} was not ready within ${START_TIMEOUT_MS} ms; its log ends:\n${this.logTail(component)}`);
      }
      await delay(READY_POLL_MS);
    }
  }

  private async startEtcd(peerPort: number): Promise<void> {
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = this.spawnLogged('etcd', this.binaries.etcd, [
      '--name=test',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`,
      `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    this.etcd = child;
    await this.waitUntil('etcd', child, async () => (await httpText('GET', `${this.etcdUrl}/health`)).includes('"health":"true"'));
  }
}


async function terminate(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function httpText(method: string, url: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method, timeout: 5_000, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          if ((response.statusCode ?? 0) >= 300) reject(new Error(`${method} ${url}: HTTP ${response.statusCode}: ${text}`));
          else resolve(text);
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${url}: timeout`)));
    request.on('error', reject);
    request.end(body);
  });
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  return JSON.parse(await httpText('POST', url, JSON.stringify(body))) as unknown;
}
