import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ServiceProcess } from './process.js';

/**
 * Every process a suite or the benchmark starts, registered the moment it is
 * spawned, so one `stopAll()` stops them all even when a start-up failed
 * half-way (a Promise.all that rejected, a listening line that never came).
 */
export class Processes {
  private readonly started: ServiceProcess[] = [];

  add(process: ServiceProcess): ServiceProcess {
    this.started.push(process);
    return process;
  }

  /** Stops every process still running, in parallel. */
  async stopAll(): Promise<void> {
    const running = this.started.splice(0);
    await Promise.all(running.map((process) => process.stop()));
  }
}

/** Fast shutdowns: tests stop and restart processes often. */
const QUICK_EXIT = { SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_GRACE_SECONDS: '2' };

export interface GreetServerHandle {
  readonly process: ServiceProcess;
  readonly podName: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly address: string;
}

export interface ListeningProcess {
  readonly process: ServiceProcess;
  readonly port: number;
  readonly metricsPort: number;
}

/** Starts one greet server on 127.0.0.1, any free port. */
export async function startGreetServer(processes: Processes, podName: string, env: Record<string, string> = {}): Promise<GreetServerHandle> {
  const process = processes.add(ServiceProcess.start('src/greet/server/main.js', {
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    METRICS_PORT: '0',
    POD_NAME: podName,
    POD_IP: '127.0.0.1',
    ...QUICK_EXIT,
    ...env,
  }));
  const listening = await process.waitUntilListening(20_000);
  const port = Number(listening['port']);
  return { process, podName, port, metricsPort: Number(listening['metricsPort']), address: `127.0.0.1:${port}` };
}

/** Starts a gateway on 127.0.0.1, any free port; `env` picks the mode and the backends. */
export async function startGateway(processes: Processes, env: Record<string, string>): Promise<ListeningProcess> {
  const process = processes.add(ServiceProcess.start('src/greet/gateway/main.js', {
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
    ...QUICK_EXIT,
    ...env,
  }));
  const listening = await process.waitUntilListening(20_000);
  const port = Number(listening['port']);
  return { process, port, metricsPort: port };
}

/**
 * The endpoints file of a lookaside in DISCOVERY=file mode, in its own
 * temporary directory. Writes are atomic (write, then rename), as an editor's are.
 */
export class EndpointsFile {
  private constructor(
    readonly directory: string,
    readonly path: string,
  ) {}

  static async create(service: string, servers: readonly GreetServerHandle[]): Promise<EndpointsFile> {
    return EndpointsFile.createMany({ [service]: servers });
  }

  /** A file listing several Services of namespace default, each with its servers. */
  static async createMany(services: Readonly<Record<string, readonly GreetServerHandle[]>>): Promise<EndpointsFile> {
    const directory = await mkdtemp(join(tmpdir(), 'greet-stack-'));
    const file = new EndpointsFile(directory, join(directory, 'endpoints.yaml'));
    await file.writeMany(services);
    return file;
  }

  write(service: string, servers: readonly GreetServerHandle[]): Promise<void> {
    return this.writeMany({ [service]: servers });
  }

  async writeMany(services: Readonly<Record<string, readonly GreetServerHandle[]>>): Promise<void> {
    const lines = ['services:'];
    for (const [service, servers] of Object.entries(services)) {
      lines.push(`  - name: ${service}`, '    namespace: default', '    endpoints:');
      lines.push(...servers.map((server) => `      - { address: "${server.address}", pod: ${server.podName} }`));
      if (servers.length === 0) lines.push('      []');
    }
    const temporary = `${this.path}.tmp`;
    await writeFile(temporary, `${lines.join('\n')}\n`);
    await rename(temporary, this.path);
  }

  remove(): Promise<void> {
    return rm(this.directory, { recursive: true, force: true });
  }
}

/** Starts the lookaside over an endpoints file; `port` 0 = any free port; `env` adds settings. */
export async function startLookaside(processes: Processes, file: EndpointsFile, port = 0, env: Record<string, string> = {}): Promise<ListeningProcess> {
  const process = processes.add(ServiceProcess.start('src/lookaside/main.js', {
    DISCOVERY: 'file',
    ENDPOINTS_FILE: file.path,
    LB_HOST: '127.0.0.1',
    LB_PORT: String(port),
    METRICS_PORT: '0',
    SHUTDOWN_GRACE_SECONDS: '2',
    ...env,
  }));
  const listening = await process.waitUntilListening(20_000);
  return { process, port: Number(listening['port']), metricsPort: Number(listening['metricsPort']) };
}

/** Environment for a gateway in lookaside mode against `lookaside`. */
export function lookasideGatewayEnv(lookaside: ListeningProcess, extra: Record<string, string> = {}): Record<string, string> {
  return { BALANCING: 'lookaside', LB_ADDR: `127.0.0.1:${lookaside.port}`, GRPC_SVC: 'greetserver', ...extra };
}

/** A grpc-js target naming every server, for BALANCING=round_robin and none. */
export function staticTarget(servers: readonly GreetServerHandle[]): string {
  return `ipv4:${servers.map((server) => server.address).join(',')}`;
}
