import { hostname, networkInterfaces } from 'node:os';

import {
  readInteger,
  readNumber,
  readLogLevel,
  readPort,
  readString,
  type Env,
  type LogLevel,
} from '../../common/config.js';

export const DEFAULT_GRPC_PORT = 50_051;
export const DEFAULT_METRICS_PORT = 9_092;

export interface GreetServerConfig {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
  /** Who answers: shown in every greeting so callers can see the balancing. */
  readonly podName: string;
  readonly podIp: string;
  /** The version this server says it is in every greeting (a canary's `v2`); '' says none. */
  readonly version: string;
  /** Added to every Greet, to simulate a slow backend. */
  readonly delayMs: number;
  /** CPU burnt (a busy loop on the one thread) by every Greet, to simulate a CPU-bound backend. */
  readonly cpuMs: number;
  /** Share of Greets answered UNAVAILABLE at once, to simulate a failing backend (0 to 1). */
  readonly failRate: number;
  /** How long the server keeps taking calls after SIGTERM while health says NOT_SERVING. */
  readonly drainMs: number;
  /** How long in-flight calls may take to finish once the server stops taking new ones. */
  readonly shutdownGraceMs: number;
}

/** Where the defaults for POD_NAME and POD_IP come from; injectable for tests. */
export interface HostProbe {
  readonly hostname: () => string;
  readonly interfaces: typeof networkInterfaces;
}

const REAL_HOST: HostProbe = { hostname, interfaces: networkInterfaces };

/** Reads and checks every setting once, at start-up; throws ConfigError naming the variable. */
export function loadGreetServerConfig(env: Env, host: HostProbe = REAL_HOST): GreetServerConfig {
  return {
    host: readString(env, 'GRPC_HOST', '0.0.0.0'),
    port: readPort(env, 'GRPC_PORT', DEFAULT_GRPC_PORT),
    metricsPort: readPort(env, 'METRICS_PORT', DEFAULT_METRICS_PORT),
    logLevel: readLogLevel(env),
    podName: readString(env, 'POD_NAME', host.hostname()),
    podIp: readString(env, 'POD_IP', firstExternalIpv4(host) ?? '127.0.0.1'),
    version: readString(env, 'GREET_VERSION', ''),
    delayMs: readInteger(env, 'GREET_DELAY_MS', 0, { min: 0, max: 600_000 }),
    cpuMs: readInteger(env, 'GREET_CPU_MS', 0, { min: 0, max: 10_000 }),
    failRate: readNumber(env, 'GREET_FAIL_RATE', 0, { min: 0, max: 1 }),
    drainMs: readInteger(env, 'SHUTDOWN_DRAIN_MS', 5_000, { min: 0, max: 600_000 }),
    shutdownGraceMs: readInteger(env, 'SHUTDOWN_GRACE_SECONDS', 10, { min: 0, max: 3_600 }) * 1000,
  };
}

/** Outside Kubernetes there is no downward API; the machine's first real IPv4 stands in. */
function firstExternalIpv4(host: HostProbe): string | undefined {
  for (const addresses of Object.values(host.interfaces())) {
    const found = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (found !== undefined) return found.address;
  }
  return undefined;
}
