import { Agent, request as httpsRequest } from 'node:https';

/**
 * A minimal Kubernetes API client for tests: JSON over HTTPS with a bearer
 * token and one keep-alive connection pool. Tests write through it so that the
 * lookaside's own client (@kubernetes/client-node) is the only one under test.
 */

export interface KubeClientOptions {
  /** https://host:port */
  readonly server: string;
  readonly token: string;
  /** The CA to verify the server with; read on first use (the file may not exist yet). */
  readonly ca: () => Buffer;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A non-2xx answer: the HTTP status and the Status object's reason and message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';

export class KubeClient {
  private agent: Agent | undefined;

  constructor(private readonly options: KubeClientOptions) {}

  /** Sends one request; unless `allowErrors`, a non-2xx answer throws KubeApiError. */
  request(
    method: string,
    path: string,
    body?: unknown,
    options: { contentType?: string; allowErrors?: boolean; timeoutMs?: number } = {},
  ): Promise<ApiAnswer> {
    const url = new URL(path, this.options.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        url,
        {
          method,
          agent: this.getAgent(),
          timeout: options.timeoutMs ?? 30_000,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (e.g. /readyz answers "ok")
            }
            if ((status < 200 || status > 299) && !options.allowErrors) {
              const statusObject = parsed as { reason?: string; message?: string } | undefined;
              reject(
                new KubeApiError(
                  status,
                  statusObject?.reason ?? '',
                  `${method} ${path}: HTTP ${status}: ${statusObject?.message ?? text.slice(0, 300)}`,
                ),
              );
              return;
            }
            resolve({ status, body: parsed });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${path}: no answer within the timeout`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** The body of a successful request. */
  async json<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    return (await this.request(method, path, body, contentType === undefined ? {} : { contentType })).body as T;
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private getAgent(): Agent {
    this.agent ??= new Agent({ keepAlive: true, maxSockets: 16, ca: this.options.ca() });
    return this.agent;
  }
}
