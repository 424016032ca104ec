import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

// grpc-js-xds's own bootstrap check, so a bad bootstrap stops start-up with the
// variable's name instead of failing the first call (the module loads only fs and grpc-js).
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';

import { ConfigError, readOptionalString, readString, type Env } from '../../../common/config.js';

/** Where the xDS bootstrap came from: one of grpc's two variables, or made from LB_ADDR / LB_SVC_NAME. */
export type BootstrapSource = 'GRPC_XDS_BOOTSTRAP' | 'GRPC_XDS_BOOTSTRAP_CONFIG' | 'generated';

export interface XdsBootstrap {
  readonly source: BootstrapSource;
  /** The bootstrap JSON, as grpc-js-xds will read it. */
  readonly text: string;
  /** The control plane it names first (the lookaside). */
  readonly serverUri: string;
  readonly nodeId: string;
}

export interface XdsSettings {
  /** `xds:///<service>.<namespace>.svc.cluster.local:<port>` unless GRPC_TARGET says otherwise. */
  readonly target: string;
  readonly bootstrap: XdsBootstrap;
}

/**
 * BALANCING=xds: the target and the bootstrap. `lookasideAddress` is read only
 * when neither GRPC_XDS_BOOTSTRAP nor GRPC_XDS_BOOTSTRAP_CONFIG is set.
 */
export function readXdsSettings(env: Env, defaultTarget: string, lookasideAddress: () => string): XdsSettings {
  const target = readString(env, 'GRPC_TARGET', defaultTarget);
  if (!/^xds:(\/\/[^/]*)?\/[^/]/.test(target)) {
    throw new ConfigError('GRPC_TARGET', `must be an xds: target such as "xds:///greetserver.default.svc.cluster.local:50051" with BALANCING=xds, got "${target}"`);
  }
  return { target, bootstrap: readBootstrap(env, lookasideAddress) };
}

function readBootstrap(env: Env, lookasideAddress: () => string): XdsBootstrap {
  const path = readOptionalString(env, 'GRPC_XDS_BOOTSTRAP');
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError('GRPC_XDS_BOOTSTRAP', `cannot read the bootstrap file "${path}": ${(error as Error).message}`);
    }
    return checked('GRPC_XDS_BOOTSTRAP', text);
  }
  const inline = readOptionalString(env, 'GRPC_XDS_BOOTSTRAP_CONFIG');
  if (inline !== undefined) return checked('GRPC_XDS_BOOTSTRAP_CONFIG', inline);
  const nodeId = readString(env, 'POD_NAME', hostname());
  return { ...checked('generated', generatedBootstrap(lookasideAddress(), nodeId)), source: 'generated' };
}

/**
 * The bootstrap of a client whose control plane is the lookaside: plaintext,
 * xDS v3, the node named after the pod. grpc-js-xds refuses a node without a
 * locality (with an error about something else), so an empty one is given.
 */
export function generatedBootstrap(lookasideAddress: string, nodeId: string): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: lookasideAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, locality: {} },
  });
}

function checked(source: BootstrapSource, text: string): XdsBootstrap {
  const variable = source === 'generated' ? 'LB_ADDR' : source;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(variable, `the xDS bootstrap is not JSON: ${(error as Error).message}`);
  }
  const shape = parsed as { xds_servers?: unknown; node?: { locality?: unknown } } | null;
  if (typeof shape !== 'object' || shape === null || !Array.isArray(shape.xds_servers) || shape.xds_servers.length === 0) {
    throw new ConfigError(variable, 'the xDS bootstrap names no control plane: it needs "xds_servers": [{"server_uri": "lookaside:50055", …}]');
  }
  if (typeof shape.node !== 'object' || shape.node === null || typeof shape.node.locality !== 'object') {
    throw new ConfigError(variable, 'the xDS bootstrap needs "node": {"id": …, "locality": {…}} (grpc-js-xds refuses a node without a locality)');
  }
  try {
    const info = validateBootstrapConfig(parsed);
    return { source, text, serverUri: info.xdsServers[0]?.server_uri ?? '', nodeId: info.node.id };
  } catch (error) {
    throw new ConfigError(variable, `the xDS bootstrap is not valid: ${(error as Error).message}`);
  }
}
