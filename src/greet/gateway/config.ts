import {
  ConfigError,
  readChoice,
  readInteger,
  readLogLevel,
  readOptionalString,
  readPort,
  readString,
  type Env,
  type LogLevel,
} from '../../common/config.js';
import { isHostName, isRfc1123Label, joinHostPort, splitHostPort } from '../../common/addresses.js';
import { readXdsSettings, type XdsSettings } from './xds/config.js';
import type { LookasideTlsFiles } from './lookaside-tls.js';

export const DEFAULT_GATEWAY_PORT = 9_091;
export const DEFAULT_LB_PORT = 50_055;
export const DEFAULT_GRPC_SERVER_PORT = 50_051;
/**
 * PING an HTTP/2 connection after this long (gRPC's advice: not below 10 s),
 * so a dead peer behind an open socket is found in seconds, not after the
 * kernel's ~15 minutes of retransmissions.
 */
export const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;
/** GREET_HEDGE_DELAY_MS defaults to this share of GREET_TIMEOUT_MS. */
export const DEFAULT_HEDGE_SHARE_OF_TIMEOUT = 0.25;

export const BALANCING_MODES = ['lookaside', 'round_robin', 'none', 'xds'] as const;
/**
 * The original article's three stages: `none` dials the Service once (every
 * call sticks to one pod), `round_robin` is grpc-js's client-side balancing,
 * `lookaside` asks the lookaside before every call; and `xds`, a stock
 * grpc-js-xds client that takes the pods from the lookaside's xDS and
 * balances every call itself.
 */
export type BalancingMode = (typeof BALANCING_MODES)[number];

export const LOOKASIDE_APIS = ['v1', 'seed'] as const;
/** `v1` is lookaside.v1 (address with port); `seed` is the original unversioned API (IP only). */
export type LookasideApi = (typeof LOOKASIDE_APIS)[number];

export const RESOLVE_POLICIES = ['round_robin', 'random', 'least_request', 'weighted_round_robin'] as const;
/** The lookaside's policy to ask for; the seed API knows only the first two. */
export type ResolvePolicy = (typeof RESOLVE_POLICIES)[number];

/** HTTP/2 keepalive of one connection: a PING after `timeMs` (0 = none), answered within `timeoutMs` or the connection is dropped. */
export interface KeepaliveSettings {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/** Limits of the HTTP server, so slow or idle clients cannot hold it. */
export interface HttpLimits {
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
  /** A request's headers must arrive within this long of its first byte (or of the connection); else 408. */
  readonly headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this long; else 408. */
  readonly requestTimeoutMs: number;
  /** A kept-alive connection with no request for this long is closed. */
  readonly keepAliveTimeoutMs: number;
}

export interface LookasideSettings {
  /** `host:port` of the lookaside's gRPC server. */
  readonly target: string;
  readonly api: LookasideApi;
  readonly policy: ResolvePolicy;
  /** Tell the lookaside how every Greet ended (v1 only). */
  readonly reportCalls: boolean;
  readonly resolveTimeoutMs: number;
  /** A Greet unanswered this long is sent again to another pod, the first answer winning; 0 = never. */
  readonly hedgeDelayMs: number;
  /** Channels not used for this long are closed (the lookaside stopped returning them). */
  readonly channelIdleMs: number;
  readonly maxChannels: number;
  /** While the lookaside is unreachable, addresses it returned within this window stay usable. */
  readonly fallbackMaxAgeMs: number;
  /** On the one connection to the lookaside. */
  readonly keepalive: KeepaliveSettings;
  /** TLS to the lookaside; undefined = plaintext. */
  readonly tls: LookasideTlsFiles | undefined;
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly balancing: BalancingMode;
  /** The greet Service's name, as the lookaside knows it. */
  readonly service: string;
  readonly namespace: string;
  /** The greet servers' port, used when the lookaside answers with an IP only (seed API). */
  readonly serverPort: number;
  /** grpc-js target for `round_robin` and `none`. */
  readonly directTarget: string;
  /** Undefined unless BALANCING=lookaside. */
  readonly lookaside: LookasideSettings | undefined;
  /** Undefined unless BALANCING=xds. */
  readonly xds: XdsSettings | undefined;
  readonly greetTimeoutMs: number;
  /** On every grpc-js channel to greet servers. */
  readonly greetKeepalive: KeepaliveSettings;
  readonly http: HttpLimits;
  /** How long /readyz says "shutting down" before the HTTP server stops taking connections. */
  readonly drainMs: number;
  readonly shutdownGraceMs: number;
}

/** Reads and checks every setting once, at start-up; throws ConfigError naming the variable. */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const balancing = readChoice(env, 'BALANCING', BALANCING_MODES, 'lookaside');
  const service = readString(env, 'GRPC_SVC', 'greetserver');
  const namespace = readString(env, 'POD_NAMESPACE', 'default');
  checkDnsLabel('GRPC_SVC', service);
  checkDnsLabel('POD_NAMESPACE', namespace);
  const serverPort = readInteger(env, 'GRPC_SERVER_PORT', DEFAULT_GRPC_SERVER_PORT, { min: 1, max: 65_535 });
  if (balancing === 'xds') refuseLookasideTls(env);
  const greetTimeoutMs = readInteger(env, 'GREET_TIMEOUT_MS', 2_000, { min: 1, max: 600_000 });

  return {
    host: readString(env, 'GATEWAY_HOST', '0.0.0.0'),
    port: readPort(env, 'GATEWAY_PORT', DEFAULT_GATEWAY_PORT),
    logLevel: readLogLevel(env),
    balancing,
    service,
    namespace,
    serverPort,
    // The headless Service's DNS name; `.svc` lets the pod's search list add the cluster domain.
    directTarget: readString(env, 'GRPC_TARGET', `dns:///${service}.${namespace}.svc:${serverPort}`),
    lookaside: balancing === 'lookaside' ? readLookaside(env, greetTimeoutMs) : undefined,
    // The Listener name the lookaside serves for the Service's port (README "xDS").
    xds:
      balancing === 'xds'
        ? readXdsSettings(env, `xds:///${service}.${namespace}.svc.cluster.local:${serverPort}`, () => readLookasideTarget(env, balancing))
        : undefined,
    greetTimeoutMs,
    greetKeepalive: {
      timeMs: readInteger(env, 'GREET_KEEPALIVE_TIME_MS', DEFAULT_KEEPALIVE_TIME_MS, { min: 0, max: 86_400_000 }),
      timeoutMs: readInteger(env, 'GREET_KEEPALIVE_TIMEOUT_MS', DEFAULT_KEEPALIVE_TIMEOUT_MS, { min: 1, max: 600_000 }),
    },
    http: readHttpLimits(env),
    drainMs: readInteger(env, 'SHUTDOWN_DRAIN_MS', 2_000, { min: 0, max: 600_000 }),
    shutdownGraceMs: readInteger(env, 'SHUTDOWN_GRACE_SECONDS', 10, { min: 0, max: 3_600 }) * 1000,
  };
}

function readLookaside(env: Env, greetTimeoutMs: number): LookasideSettings {
  const api = readChoice(env, 'LB_API', LOOKASIDE_APIS, 'v1');
  const policy = readChoice(env, 'LB_POLICY', RESOLVE_POLICIES, 'round_robin');
  if (api === 'seed' && policy !== 'round_robin' && policy !== 'random') {
    throw new ConfigError('LB_POLICY', `must be round_robin or random with LB_API=seed (the original API has no ${policy}), got "${policy}"`);
  }
  return {
    target: readLookasideTarget(env, 'lookaside'),
    api,
    policy,
    reportCalls: readChoice(env, 'LB_REPORT_CALLS', ['true', 'false'] as const, 'true') === 'true',
    resolveTimeoutMs: readInteger(env, 'RESOLVE_TIMEOUT_MS', 250, { min: 1, max: 60_000 }),
    hedgeDelayMs: readHedgeDelay(env, greetTimeoutMs),
    channelIdleMs: readInteger(env, 'CHANNEL_IDLE_MS', 30_000, { min: 10, max: 86_400_000 }),
    maxChannels: readInteger(env, 'MAX_CHANNELS', 100, { min: 1, max: 10_000 }),
    fallbackMaxAgeMs: readInteger(env, 'FALLBACK_MAX_AGE_MS', 120_000, { min: 0, max: 86_400_000 }),
    keepalive: {
      timeMs: readInteger(env, 'LB_KEEPALIVE_TIME_MS', DEFAULT_KEEPALIVE_TIME_MS, { min: 0, max: 86_400_000 }),
      timeoutMs: readInteger(env, 'LB_KEEPALIVE_TIMEOUT_MS', DEFAULT_KEEPALIVE_TIMEOUT_MS, { min: 1, max: 600_000 }),
    },
    tls: readLookasideTlsFiles(env),
  };
}

/**
 * GREET_HEDGE_DELAY_MS: by default a quarter of GREET_TIMEOUT_MS, so a hedge
 * keeps three quarters of the budget and a pod that merely answers slowly
 * still has all of it; it must leave the hedge some of the budget.
 */
function readHedgeDelay(env: Env, greetTimeoutMs: number): number {
  const delayMs = readInteger(env, 'GREET_HEDGE_DELAY_MS', Math.ceil(greetTimeoutMs * DEFAULT_HEDGE_SHARE_OF_TIMEOUT), { min: 0, max: 600_000 });
  if (delayMs >= greetTimeoutMs) {
    throw new ConfigError('GREET_HEDGE_DELAY_MS', `must be below GREET_TIMEOUT_MS (${greetTimeoutMs}), or 0 to never hedge; got ${delayMs}`);
  }
  return delayMs;
}

/** Any LB_TLS_* turns TLS on; LB_TLS_CERT_FILE and LB_TLS_KEY_FILE go together. The files are read at start-up (lookaside-tls.ts). */
function readLookasideTlsFiles(env: Env): LookasideTlsFiles | undefined {
  const caFile = readOptionalString(env, 'LB_TLS_CA_FILE');
  const clientCertFile = readOptionalString(env, 'LB_TLS_CERT_FILE');
  const clientKeyFile = readOptionalString(env, 'LB_TLS_KEY_FILE');
  if (clientCertFile === undefined && clientKeyFile !== undefined) throw new ConfigError('LB_TLS_CERT_FILE', 'is required with LB_TLS_KEY_FILE: the client certificate for the lookaside');
  if (clientCertFile !== undefined && clientKeyFile === undefined) throw new ConfigError('LB_TLS_KEY_FILE', 'is required with LB_TLS_CERT_FILE: the private key of that certificate');
  if (caFile === undefined && clientCertFile === undefined) return undefined;
  return { caFile, clientCertFile, clientKeyFile };
}

/** The xDS channel's credentials come from its bootstrap: LB_TLS_* there would be silently ignored. */
function refuseLookasideTls(env: Env): void {
  for (const name of ['LB_TLS_CA_FILE', 'LB_TLS_CERT_FILE', 'LB_TLS_KEY_FILE']) {
    if (readOptionalString(env, name) === undefined) continue;
    throw new ConfigError(name, "applies to BALANCING=lookaside only; with BALANCING=xds the bootstrap's channel_creds say how to reach the lookaside");
  }
}

function readHttpLimits(env: Env): HttpLimits {
  const headersTimeoutMs = readInteger(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, { min: 1, max: 3_600_000 });
  const requestTimeoutMs = readInteger(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, { min: 1, max: 3_600_000 });
  // node:http refuses a headers timeout longer than the whole request's.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', `must not exceed HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs}), got ${headersTimeoutMs}`);
  }
  return {
    maxConnections: readInteger(env, 'HTTP_MAX_CONNECTIONS', 1_000, { min: 1, max: 1_000_000 }),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: readInteger(env, 'HTTP_KEEPALIVE_TIMEOUT_MS', 5_000, { min: 1_000, max: 3_600_000 }),
  };
}

/** LB_ADDR wins; otherwise LB_SVC_NAME and LB_PORT, as the original gateway had them. */
function readLookasideTarget(env: Env, balancing: BalancingMode): string {
  const address = readOptionalString(env, 'LB_ADDR');
  if (address !== undefined) {
    if (splitHostPort(address) === undefined) {
      throw new ConfigError('LB_ADDR', `must be "host:port" (IPv6 as "[addr]:port"), got "${address}"`);
    }
    return address;
  }
  const name = readOptionalString(env, 'LB_SVC_NAME');
  if (name === undefined) {
    throw new ConfigError('LB_ADDR', `BALANCING=${balancing} needs the lookaside: set LB_ADDR=host:port, or LB_SVC_NAME (and LB_PORT)${balancing === 'xds' ? ', or an xDS bootstrap (GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG)' : ''}`);
  }
  if (!isHostName(name)) {
    throw new ConfigError('LB_SVC_NAME', `must be a host name or an IP address, got "${name}"`);
  }
  const port = readInteger(env, 'LB_PORT', DEFAULT_LB_PORT, { min: 1, max: 65_535 });
  return joinHostPort(name, port);
}

/** Kubernetes names are RFC 1123 labels; catching a typo here beats a NOT_FOUND on every request. */
function checkDnsLabel(variable: string, value: string): void {
  if (!isRfc1123Label(value)) {
    throw new ConfigError(variable, `must be a DNS label (lower-case letters, digits, "-", at most 63), got "${value}"`);
  }
}
