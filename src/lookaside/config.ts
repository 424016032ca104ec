import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

import {
  ConfigError,
  readChoice,
  readInteger,
  readList,
  readLogLevel,
  readOptionalString,
  readPort,
  readString,
  type Env,
  type LogLevel,
} from '../common/config.js';
import { POLICY_NAMES, type PolicyName } from './balancing/picker.js';
import type { KubeClusterConfig } from './discovery/kubeconfig.js';
import { WATCH_SILENCE_LIMIT_MS } from './discovery/namespace-watch.js';
import { readLoadConfig } from './load/config.js';
import type { LoadConfig } from './load/service-load.js';
import type { ServingTlsFiles } from './serving-tls.js';
import { checkLabel } from './validation.js';
import { containerCpus, readWorkerCount } from './workers/worker-count.js';

export const DEFAULT_LB_PORT = 50_055;
export const DEFAULT_METRICS_PORT = 9_095;

export type DiscoveryConfig =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'kubernetes'; readonly cluster: KubeClusterConfig };

export interface LookasideConfig {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
  readonly discovery: DiscoveryConfig;
  readonly ownNamespace: string;
  readonly defaultPolicy: PolicyName;
  readonly refreshIntervalMs: number;
  readonly watchSilenceLimitMs: number;
  readonly idleTimeoutMs: number;
  readonly maxServices: number;
  /** How long a Service name found missing is answered from memory. */
  readonly negativeCacheMs: number;
  /** New Service names looked up per second against the Kubernetes API. */
  readonly lookupsPerSecond: number;
  readonly allowedNamespaces: readonly string[];
  readonly shutdownGraceMs: number;
  readonly limits: ServerLimits;
  /** Outlier ejection, call leases and ORCA weights. */
  readonly load: LoadConfig;
  /** Serve the xDS control plane (AggregatedDiscoveryService) on the gRPC port. */
  readonly xds: boolean;
  /** TLS (mTLS with a client CA) on the gRPC port; undefined = plaintext. */
  readonly tls: ServingTlsFiles | undefined;
  /** Follow Gateway API GRPCRoutes attached to Services (Kubernetes discovery; the endpoints file's `routes` always apply). */
  readonly grpcRoutes: boolean;
  /** gRPC edge processes (LB_WORKERS); 1 runs everything in this process, as before. */
  readonly workers: number;
}

/** What one client can make the gRPC server hold; README "Limits" explains the defaults. */
export interface ServerLimits {
  readonly maxConnections: number;
  /** At most this many of them from one client address. */
  readonly maxConnectionsPerClient: number;
  readonly maxStreamsPerConnection: number;
  readonly maxOpenCalls: number;
  readonly maxResolveStreams: number;
  readonly resolveStreamIdleMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 1000,
  maxConnectionsPerClient: 100,
  maxStreamsPerConnection: 100,
  maxOpenCalls: 2000,
  maxResolveStreams: 1000,
  resolveStreamIdleMs: 300_000,
};

/** Where the config looks for a kubeconfig; injectable for tests. */
export interface ConfigProbe {
  readonly fileExists: (path: string) => boolean;
  readonly homeDirectory: string;
  /** The CPUs the container may use (LB_WORKERS's default); the real count when not given. */
  readonly cpus?: () => number;
}

const REAL_PROBE: ConfigProbe = { fileExists: existsSync, homeDirectory: homedir(), cpus: () => containerCpus() };

/** Reads and checks every setting once, at start-up; throws ConfigError naming the variable. */
export function loadLookasideConfig(env: Env, probe: ConfigProbe = REAL_PROBE): LookasideConfig {
  const ownNamespace = readString(env, 'POD_NAMESPACE', 'default');
  const namespaceProblem = checkLabel('namespace', ownNamespace, true);
  if (namespaceProblem !== undefined) throw new ConfigError('POD_NAMESPACE', namespaceProblem);

  const allowedNamespaces = readList(env, 'ALLOWED_NAMESPACES');
  for (const namespace of allowedNamespaces) {
    const problem = checkLabel('namespace', namespace, true);
    if (problem !== undefined) throw new ConfigError('ALLOWED_NAMESPACES', problem);
  }

  const policy = readChoice(env, 'DEFAULT_POLICY', POLICY_NAMES, 'round_robin');

  return {
    host: readString(env, 'LB_HOST', '0.0.0.0'),
    port: readPort(env, 'LB_PORT', DEFAULT_LB_PORT),
    metricsPort: readPort(env, 'METRICS_PORT', DEFAULT_METRICS_PORT),
    logLevel: readLogLevel(env),
    discovery: readDiscovery(env, probe),
    ownNamespace,
    defaultPolicy: policy,
    refreshIntervalMs: readInteger(env, 'REFRESH_INTERVAL_SECONDS', 60, { min: 1, max: 86_400 }) * 1000,
    watchSilenceLimitMs:
      readInteger(env, 'WATCH_SILENCE_SECONDS', WATCH_SILENCE_LIMIT_MS / 1000, { min: 1, max: 3_600 }) * 1000,
    idleTimeoutMs: readInteger(env, 'IDLE_TIMEOUT_SECONDS', 600, { min: 1, max: 604_800 }) * 1000,
    maxServices: readInteger(env, 'MAX_SERVICES', 1000, { min: 1, max: 100_000 }),
    negativeCacheMs: readInteger(env, 'NEGATIVE_CACHE_SECONDS', 5, { min: 0, max: 3_600 }) * 1000,
    lookupsPerSecond: readInteger(env, 'LOOKUPS_PER_SECOND', 20, { min: 1, max: 10_000 }),
    allowedNamespaces,
    shutdownGraceMs: readInteger(env, 'SHUTDOWN_GRACE_SECONDS', 10, { min: 0, max: 3_600 }) * 1000,
    limits: readServerLimits(env),
    load: readLoadConfig(env),
    xds: readChoice(env, 'XDS', ['on', 'off'] as const, 'on') === 'on',
    tls: readServingTls(env),
    grpcRoutes: readChoice(env, 'GRPC_ROUTES', ['on', 'off'] as const, 'on') === 'on',
    workers: readWorkerCount(env, (probe.cpus ?? containerCpus)()),
  };
}

/** TLS_CERT_FILE and TLS_KEY_FILE together, or neither; TLS_CLIENT_CA_FILE only with them. The files are read at start-up (ServingTls). */
function readServingTls(env: Env): ServingTlsFiles | undefined {
  const certFile = readOptionalString(env, 'TLS_CERT_FILE');
  const keyFile = readOptionalString(env, 'TLS_KEY_FILE');
  const clientCaFile = readOptionalString(env, 'TLS_CLIENT_CA_FILE');
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new ConfigError('TLS_CLIENT_CA_FILE', 'requires TLS: set TLS_CERT_FILE and TLS_KEY_FILE too');
    return undefined;
  }
  if (certFile === undefined) throw new ConfigError('TLS_CERT_FILE', 'is required with TLS_KEY_FILE: the PEM certificate (chain) the gRPC port serves');
  if (keyFile === undefined) throw new ConfigError('TLS_KEY_FILE', 'is required with TLS_CERT_FILE: the PEM private key of that certificate');
  return { certFile, keyFile, clientCaFile };
}

function readServerLimits(env: Env): ServerLimits {
  const defaults = DEFAULT_SERVER_LIMITS;
  return {
    maxConnections: readInteger(env, 'MAX_CONNECTIONS', defaults.maxConnections, { min: 1, max: 100_000 }),
    maxConnectionsPerClient: readInteger(env, 'MAX_CONNECTIONS_PER_CLIENT', defaults.maxConnectionsPerClient, { min: 1, max: 100_000 }),
    maxStreamsPerConnection: readInteger(env, 'MAX_STREAMS_PER_CONNECTION', defaults.maxStreamsPerConnection, { min: 1, max: 10_000 }),
    maxOpenCalls: readInteger(env, 'MAX_OPEN_CALLS', defaults.maxOpenCalls, { min: 1, max: 1_000_000 }),
    maxResolveStreams: readInteger(env, 'MAX_RESOLVE_STREAMS', defaults.maxResolveStreams, { min: 1, max: 1_000_000 }),
    resolveStreamIdleMs:
      readInteger(env, 'RESOLVE_STREAM_IDLE_SECONDS', defaults.resolveStreamIdleMs / 1000, { min: 1, max: 86_400 }) * 1000,
  };
}

/**
 * DISCOVERY wins when set. Otherwise ENDPOINTS_FILE means file mode, then a
 * kubeconfig or a cluster (KUBERNETES_SERVICE_HOST) means kubernetes.
 * Kubernetes without either is refused: client-node would fall back to
 * http://localhost:8080 and the lookaside would answer UNAVAILABLE forever.
 */
function readDiscovery(env: Env, probe: ConfigProbe): DiscoveryConfig {
  const requested = readOptionalString(env, 'DISCOVERY');
  const path = readOptionalString(env, 'ENDPOINTS_FILE');
  const cluster = findCluster(env, probe);
  const kind =
    requested === undefined
      ? path !== undefined
        ? 'file'
        : cluster !== undefined
          ? 'kubernetes'
          : undefined
      : readChoice(env, 'DISCOVERY', ['kubernetes', 'file'] as const, 'kubernetes');

  if (kind === 'kubernetes') {
    if (cluster === undefined) throw new ConfigError('KUBECONFIG', noClusterProblem(env, probe));
    return { kind, cluster };
  }
  if (path === undefined) {
    throw new ConfigError(
      'ENDPOINTS_FILE',
      kind === 'file'
        ? 'is required with DISCOVERY=file: the path of a YAML or JSON endpoints file'
        : 'is not set, and there is no cluster to watch (no KUBERNETES_SERVICE_HOST, no kubeconfig): ' +
            'set ENDPOINTS_FILE to a YAML endpoints file to run without a cluster',
    );
  }
  if (!probe.fileExists(path)) throw new ConfigError('ENDPOINTS_FILE', `no file at ${path}`);
  return { kind: 'file', path };
}

/** Chosen as client-node's loadFromDefault does: KUBECONFIG's files, else ~/.kube/config, else the pod's own config. */
function findCluster(env: Env, probe: ConfigProbe): KubeClusterConfig | undefined {
  const listed = readOptionalString(env, 'KUBECONFIG');
  const candidates = listed === undefined ? [defaultKubeconfig(probe)] : listed.split(delimiter).filter((file) => file !== '');
  const files = candidates.filter((file) => probe.fileExists(file));
  if (files.length > 0) return { kind: 'kubeconfig', files };
  if (readOptionalString(env, 'KUBERNETES_SERVICE_HOST') !== undefined) return { kind: 'in-cluster' };
  return undefined;
}

function noClusterProblem(env: Env, probe: ConfigProbe): string {
  const listed = readOptionalString(env, 'KUBECONFIG');
  const kubeconfig = listed === undefined ? `is not set and there is no ${defaultKubeconfig(probe)}` : `names no file that exists (${listed})`;
  return (
    `${kubeconfig}, and there is no in-cluster config (KUBERNETES_SERVICE_HOST is not set): ` +
    'DISCOVERY=kubernetes needs one of them (or use DISCOVERY=file with ENDPOINTS_FILE)'
  );
}

function defaultKubeconfig(probe: ConfigProbe): string {
  return join(probe.homeDirectory, '.kube', 'config');
}
