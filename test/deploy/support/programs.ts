import type { Env } from '../../../src/common/config.js';
import { loadGatewayConfig, DEFAULT_GATEWAY_PORT } from '../../../src/greet/gateway/config.js';
import { loadGreetServerConfig, DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT as GREET_METRICS_PORT } from '../../../src/greet/server/config.js';
import { loadLookasideConfig, DEFAULT_LB_PORT, DEFAULT_METRICS_PORT as LOOKASIDE_METRICS_PORT } from '../../../src/lookaside/config.js';
import { HEALTH_PATH as LOOKASIDE_HEALTH_PATH } from '../../../src/lookaside/lookaside.js';

/**
 * What the deploy/ checks know about each of our three programs, taken from
 * the code wherever the code says it: default ports are the config modules'
 * DEFAULT_* constants, and bound ports and shutdown timings come from running
 * the real config loader on a container's environment.
 */
export interface Program {
  readonly title: string;
  /** The build output a container runs. */
  readonly script: string;
  /**
   * Variables a Deployment must set, although the code has defaults: the
   * listening port (so the manifest states it) and what only the pod knows.
   */
  readonly required: readonly string[];
  /** Variables that must come from the downward API, and from which field. */
  readonly downward: Readonly<Record<string, string>>;
  /** The code's default port for each container port name. */
  readonly defaultPorts: Readonly<Record<string, number>>;
  /** The port the program serves /metrics on (the name of a container port). */
  readonly metricsPort: string;
  /** Paths an HTTP probe may ask, each with the container port (name) that serves it. */
  readonly httpProbes: Readonly<Record<string, string>>;
  /** Loads the real config; throws the program's own ConfigError. */
  readonly load: (env: Env) => LoadedProgram;
  /** Variables that pick ports: set to 0 to run on loopback beside other tests. */
  readonly portVariables: readonly string[];
}

export interface LoadedProgram {
  /** The port it binds, for each container port name. */
  readonly ports: Readonly<Record<string, number>>;
  /** After SIGTERM: how long it keeps taking new work while it leaves the rotation. */
  readonly drainMs: number;
  /** The longest it takes from SIGTERM to exit. */
  readonly stopMs: number;
}

/** `DISCOVERY=kubernetes` needs no file; nothing else is looked up on disk. */
const NO_FILES = { fileExists: () => false, homeDirectory: '/nonexistent' };

export const PROGRAMS: readonly Program[] = [
  {
    title: 'lookaside',
    script: 'dist/src/lookaside/main.js',
    required: ['LB_PORT', 'POD_NAMESPACE', 'DISCOVERY'],
    downward: { POD_NAMESPACE: 'metadata.namespace' },
    defaultPorts: { grpc: DEFAULT_LB_PORT, metrics: LOOKASIDE_METRICS_PORT },
    metricsPort: 'metrics',
    // For probes when the gRPC port speaks TLS (the kubelet's gRPC probe cannot).
    httpProbes: { [LOOKASIDE_HEALTH_PATH]: 'metrics' },
    load: (env) => {
      const config = loadLookasideConfig(env, NO_FILES);
      return { ports: { grpc: config.port, metrics: config.metricsPort }, drainMs: 0, stopMs: config.shutdownGraceMs };
    },
    portVariables: ['LB_PORT', 'METRICS_PORT'],
  },
  {
    title: 'greet server',
    script: 'dist/src/greet/server/main.js',
    required: ['GRPC_PORT', 'POD_NAME', 'POD_IP', 'SHUTDOWN_DRAIN_MS'],
    downward: { POD_NAME: 'metadata.name', POD_IP: 'status.podIP' },
    defaultPorts: { grpc: DEFAULT_GRPC_PORT, metrics: GREET_METRICS_PORT },
    metricsPort: 'metrics',
    httpProbes: {},
    load: (env) => {
      const config = loadGreetServerConfig(env);
      return {
        ports: { grpc: config.port, metrics: config.metricsPort },
        drainMs: config.drainMs,
        stopMs: config.drainMs + config.shutdownGraceMs,
      };
    },
    portVariables: ['GRPC_PORT', 'METRICS_PORT'],
  },
  {
    title: 'gateway',
    script: 'dist/src/greet/gateway/main.js',
    required: ['GATEWAY_PORT', 'GRPC_SVC', 'LB_ADDR', 'POD_NAMESPACE'],
    downward: { POD_NAMESPACE: 'metadata.namespace' },
    defaultPorts: { http: DEFAULT_GATEWAY_PORT },
    metricsPort: 'http',
    httpProbes: { '/readyz': 'http', '/healthz': 'http' },
    load: (env) => {
      const config = loadGatewayConfig(env);
      return { ports: { http: config.port }, drainMs: config.drainMs, stopMs: config.drainMs + config.shutdownGraceMs };
    },
    portVariables: ['GATEWAY_PORT'],
  },
];

export function programRunning(script: string): Program {
  const program = PROGRAMS.find((candidate) => candidate.script === script);
  if (program === undefined) throw new Error(`a container runs ${script}, which is none of ${PROGRAMS.map((p) => p.script).join(', ')}`);
  return program;
}
