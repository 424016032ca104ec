import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import type { KubeClusterConfig } from './kubeconfig.js';

/**
 * How to reach the API server: where, with which TLS material and which
 * headers. Plain data, so that it can come from the process that reads the
 * kubeconfig.
 */
export interface ApiAccess {
  /** `https://host:port` (or `http://` for a local proxy), without a trailing slash. */
  readonly server: string;
  readonly tls: ApiTls;
  /** Sent with every request: Authorization, Impersonate-User. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * In a cluster: the service account token file, read again at most every
   * TOKEN_FILE_REREAD_MS (the kubelet rotates it), whose token replaces the
   * Authorization header.
   */
  readonly tokenFile?: string;
  /** Credentials from a plugin (exec, auth-provider) that can expire: read again after a 401. */
  readonly expiring: boolean;
}

export interface ApiTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/** As client-go and client-node do for a mounted token. */
export const TOKEN_FILE_REREAD_MS = 60_000;
/** After a 401, expiring credentials are read again at most this often. */
export const CREDENTIALS_REFRESH_MIN_MS = 10_000;
/** A kubeconfig reader (exec plugins included) that has not answered after this long has failed. */
const READER_TIMEOUT_MS = 60_000;

/** What the reader prints. */
export type AccessAnswer = { readonly ok: true; readonly access: ApiAccess } | { readonly ok: false; readonly message: string };

/**
 * Reads the kubeconfig (or the pod's own config) in a short-lived child
 * process with @kubernetes/client-node, which knows every way a kubeconfig
 * can name credentials (tokens, client certificates, exec plugins, auth
 * providers). Loaded in the lookaside it would stay for good: importing it
 * costs about 70 MB of RSS (measured: 39 → 111 MB), half the memory budget;
 * a worker thread gives most of that back but kept 20 MB (measured 42 → 65
 * MB); a process gives it all back.
 */
export function readApiAccess(cluster: KubeClusterConfig): Promise<ApiAccess> {
  return new Promise((resolve, reject) => {
    const reader = fileURLToPath(new URL('./api-access-reader.js', import.meta.url));
    execFile(
      process.execPath,
      [reader, JSON.stringify(cluster)],
      { timeout: READER_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20, env: process.env },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1) ?? '';
        let answer: AccessAnswer | undefined;
        try {
          answer = JSON.parse(line) as AccessAnswer;
        } catch {
          answer = undefined;
        }
        if (answer?.ok === true) resolve(answer.access);
        else if (answer?.ok === false) reject(new Error(answer.message));
        else reject(new Error(`KUBECONFIG: the kubeconfig reader failed: ${error?.message ?? 'no answer'} ${stderr.trim().split('\n')[0] ?? ''}`.trim()));
      },
    );
  });
}

export interface ApiCredentialsOptions {
  /** Reads the access again (for expiring credentials); undefined when they cannot change. */
  readonly reread?: () => Promise<ApiAccess>;
  readonly readTokenFile?: (path: string) => Promise<string>;
  readonly now?: () => number;
}

/**
 * The headers of the next request: the access's own, with a mounted token
 * re-read once a minute and expiring credentials read again after a 401.
 */
export class ApiCredentials {
  private token: { value: string; readAtMs: number } | undefined;
  private rereading: Promise<void> | undefined;
  private rereadAtMs = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(
    private access: ApiAccess,
    private readonly options: ApiCredentialsOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  get current(): ApiAccess {
    return this.access;
  }

  async headers(): Promise<Record<string, string>> {
    const headers = { ...this.access.headers };
    const tokenFile = this.access.tokenFile;
    if (tokenFile !== undefined) headers['authorization'] = `Bearer ${await this.mountedToken(tokenFile)}`;
    return headers;
  }

  /** The API server refused the credentials: read them again, at most every CREDENTIALS_REFRESH_MIN_MS. */
  unauthorized(): void {
    this.token = undefined;
    const reread = this.options.reread;
    if (!this.access.expiring || reread === undefined || this.rereading !== undefined) return;
    if (this.now() - this.rereadAtMs < CREDENTIALS_REFRESH_MIN_MS) return;
    this.rereadAtMs = this.now();
    this.rereading = reread()
      .then((access) => {
        this.access = access;
      })
      // The old credentials stay; the next 401 tries again.
      .catch(() => undefined)
      .finally(() => (this.rereading = undefined));
  }

  private async mountedToken(path: string): Promise<string> {
    const nowMs = this.now();
    if (this.token === undefined || nowMs - this.token.readAtMs > TOKEN_FILE_REREAD_MS) {
      const read = this.options.readTokenFile ?? ((file: string) => readFile(file, 'utf8'));
      this.token = { value: (await read(path)).trim(), readAtMs: nowMs };
    }
    return this.token.value;
  }
}
