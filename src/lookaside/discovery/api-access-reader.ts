import type { RequestOptions } from 'node:https';

import type { AccessAnswer, ApiAccess } from './api-access.js';
import { loadKubeConfig, type KubeClusterConfig } from './kubeconfig.js';

/**
 * The kubeconfig reader, a short-lived child process (see readApiAccess):
 * read which config to load as JSON from argv, load it with
 * @kubernetes/client-node, let it apply the credentials to request options,
 * print them as one JSON line, exit.
 */
const cluster = JSON.parse(process.argv[2] ?? '{}') as KubeClusterConfig;

async function read(): Promise<ApiAccess> {
  const kubeConfig = loadKubeConfig(cluster);
  const current = kubeConfig.getCurrentCluster();
  if (current === null) throw new Error('KUBECONFIG: the current context names no cluster');
  if (current.proxyUrl !== undefined && current.proxyUrl !== '') {
    throw new Error(
      `KUBECONFIG: cluster "${current.name}" has a proxy-url, which the lookaside's API client does not support; ` +
        'reach the API server directly (or through `kubectl proxy` and an http:// server)',
    );
  }
  const options: RequestOptions = {};
  try {
    await kubeConfig.applyToHTTPSOptions(options);
  } catch (error) {
    // No cause: the full error may quote credentials, and only its first line is safe to log.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`KUBECONFIG: cannot use the credentials of the current context: ${(error as Error).message.split('\n')[0]}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (typeof value === 'string' || typeof value === 'number') headers[name.toLowerCase()] = String(value);
  }
  if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;

  const user = kubeConfig.getCurrentUser();
  const provider = user?.authProvider as { name?: string; config?: { tokenFile?: string } } | undefined;
  const tokenFile = provider?.name === 'tokenFile' ? provider.config?.tokenFile : undefined;
  return {
    server: current.server.replace(/\/+$/, ''),
    tls: {
      ca: pem(options.ca),
      cert: pem(options.cert),
      // client-node reads the key from the kubeconfig as a string or Buffer, never a KeyObject.
      key: pem(options.key as RequestOptions['ca']),
      rejectUnauthorized: options.rejectUnauthorized !== false && current.skipTLSVerify !== true,
      servername: current.tlsServerName || undefined,
    },
    headers,
    tokenFile,
    expiring: user?.exec !== undefined || (provider !== undefined && tokenFile === undefined),
  };
}

function pem(value: RequestOptions['ca']): string | undefined {
  if (value === undefined || value === null) return undefined;
  const parts = Array.isArray(value) ? value : [value];
  return parts.map((part) => (typeof part === 'string' ? part : Buffer.from(part as Uint8Array).toString('utf8'))).join('\n');
}

read().then(
  (access) => answer({ ok: true, access }),
  (error: unknown) => answer({ ok: false, message: (error as Error).message }),
);

function answer(result: AccessAnswer): void {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
