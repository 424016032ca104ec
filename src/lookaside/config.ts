import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
import type { PolicyName } from './balancing/picker.js';
import { checkLabel } from './validation.js';

export const DEFAULT_LB_PORT = 50_055;
export const DEFAULT_METRICS_PORT = 9_095;

export type DiscoveryConfig = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'kubernetes' };

export interface LookasideConfig {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
  readonly discovery: DiscoveryConfig;
  readonly ownNamespace: string;
  readonly defaultPolicy: PolicyName;
  readonly refreshIntervalMs: number;
  readonly idleTimeoutMs: number;
  readonly maxServices: number;
  readonly allowedNamespaces: readonly string[];
  readonly shutdownGraceMs: number;
  readonly limits: ServerLimits;
}

/** What one client can make the gRPC server hold; README "Limits" explains the defaults. */
export interface ServerLimits {
  readonly maxConnections: number;
  readonly maxStreamsPerConnection: number;
  readonly maxOpenCalls: number;
  readonly maxResolveStreams: number;
  readonly resolveStreamIdleMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 1000,
  maxStreamsPerConnection: 100,
  maxOpenCalls: 2000,
  maxResolveStreams: 1000,
  resolveStreamIdleMs: 300_000,
};

/** Where the config looks for a kubeconfig; injectable for tests. */
export interface ConfigProbe {
  readonly fileExists: (path: string) => boolean;
  readonly homeDirectory: string;
}

const REAL_PROBE: ConfigProbe = { fileExists: existsSync, homeDirectory: homedir() };

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

  const policy = readChoice(env, 'DEFAULT_POLICY', ['round_robin', 'random'] as const, 'round_robin');

  return {
    host: readString(env, 'LB_HOST', '0.0.0.0'),
    port: readPort(env, 'LB_PORT', DEFAULT_LB_PORT),
    metricsPort: readPort(env, 'METRICS_PORT', DEFAULT_METRICS_PORT),
    logLevel: readLogLevel(env),
    discovery: readDiscovery(env, probe),
    ownNamespace,
    defaultPolicy: policy,
    refreshIntervalMs: readInteger(env, 'REFRESH_INTERVAL_SECONDS', 60, { min: 1, max: 86_400 }) * 1000,
    idleTimeoutMs: readInteger(env, 'IDLE_TIMEOUT_SECONDS', 600, { min: 1, max: 604_800 }) * 1000,
    maxServices: readInteger(env, 'MAX_SERVICES', 1000, { min: 1, max: 100_000 }),
    allowedNamespaces,
    shutdownGraceMs: readInteger(env, 'SHUTDOWN_GRACE_SECONDS', 10, { min: 0, max: 3_600 }) * 1000,
    limits: readServerLimits(env),
  };
}

function readServerLimits(env: Env): ServerLimits {
  const defaults = DEFAULT_SERVER_LIMITS;
  return {
    maxConnections: readInteger(env, 'MAX_CONNECTIONS', defaults.maxConnections, { min: 1, max: 100_000 }),
    maxStreamsPerConnection: readInteger(env, 'MAX_STREAMS_PER_CONNECTION', defaults.maxStreamsPerConnection, { min: 1, max: 10_000 }),
    maxOpenCalls: readInteger(env, 'MAX_OPEN_CALLS', defaults.maxOpenCalls, { min: 1, max: 1_000_000 }),
    maxResolveStreams: readInteger(env, 'MAX_RESOLVE_STREAMS', defaults.maxResolveStreams, { min: 1, max: 1_000_000 }),
    resolveStreamIdleMs:
      readInteger(env, 'RESOLVE_STREAM_IDLE_SECONDS', defaults.resolveStreamIdleMs / 1000, { min: 1, max: 86_400 }) * 1000,
  };
}

/**
 * DISCOVERY wins when set. Otherwise ENDPOINTS_FILE means file mode, then a
 * cluster (KUBERNETES_SERVICE_HOST) or a kubeconfig means kubernetes.
 */
function readDiscovery(env: Env, probe: ConfigProbe): DiscoveryConfig {
  const requested = readOptionalString(env, 'DISCOVERY');
  const path = readOptionalString(env, 'ENDPOINTS_FILE');
  const kind =
    requested === undefined
      ? path !== undefined
        ? 'file'
        : hasCluster(env, probe)
          ? 'kubernetes'
          : undefined
      : readChoice(env, 'DISCOVERY', ['kubernetes', 'file'] as const, 'kubernetes');

  if (kind === 'kubernetes') return { kind };
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

function hasCluster(env: Env, probe: ConfigProbe): boolean {
  if (readOptionalString(env, 'KUBERNETES_SERVICE_HOST') !== undefined) return true;
  const kubeconfigs = readOptionalString(env, 'KUBECONFIG');
  if (kubeconfigs !== undefined) return kubeconfigs.split(':').some((path) => path !== '' && probe.fileExists(path));
  return probe.fileExists(join(probe.homeDirectory, '.kube', 'config'));
}
