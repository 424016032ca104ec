import { createServer, Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

type ProxyRequest = IncomingMessage | Http2ServerRequest;
type ProxyResponse = ServerResponse | Http2ServerResponse;

export interface ApiProxyOptions {
  /**
   * Serve TLS with this certificate (the API server's own serves: its CA then
   * verifies the proxy), offering HTTP/2 and HTTP/1.1 in ALPN as kube-apiserver
   * does. Plain HTTP/1.1 without it.
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

/**
 * A reverse proxy in front of a real kube-apiserver, so a test can do to the
 * lookaside's watches what a network or a long outage would: hold or freeze
 * them (events stop arriving, the stream stays open) and end them cleanly, as
 * the API server does when a watch's timeout runs out. The lookaside then
 * resumes from the last resourceVersion it saw. It also counts the
 * EndpointSlice lists that pass through it, per namespace.
 */
export class ApiProxy {
  private readonly watches = new Set<{ response: ProxyResponse; upstream: ReturnType<typeof httpsRequest>; frozen: boolean }>();
  private readonly sessions = new Set<Http2Session>();
  private held = false;
  private readonly agent: Agent;
  /** Lists started (first pages) per namespace. */
  private readonly listsByNamespace = new Map<string, number>();
  /** Every list request, pages included. */
  listPages = 0;

  private constructor(
    private readonly server: Server | Http2SecureServer,
    private readonly upstream: URL,
    ca: Buffer,
  ) {
    this.agent = new Agent({ keepAlive: true, ca });
    server.on('request', (request: ProxyRequest, response: ProxyResponse) => this.forward(request, response));
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `upstream` (https://…, verified with `ca`). */
  static async start(upstream: string, ca: Buffer, options: ApiProxyOptions = {}): Promise<ApiProxy> {
    const server = options.tls === undefined ? createServer() : createSecureServer({ ...options.tls, allowHTTP1: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new ApiProxy(server, new URL(upstream), ca);
  }

  /** http(s)://127.0.0.1:<port>, for a kubeconfig. */
  get url(): string {
    const scheme = this.server instanceof Server ? 'http' : 'https';
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Watch streams currently open through the proxy. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** EndpointSlice lists started (a list of several pages counts once), in `namespace` or in all. */
  listsStarted(namespace?: string): number {
    if (namespace !== undefined) return this.listsByNamespace.get(namespace) ?? 0;
    let sum = 0;
    for (const count of this.listsByNamespace.values()) sum += count;
    return sum;
  }

  /** From now on, watch events are swallowed; streams stay open. */
  holdWatches(): void {
    this.held = true;
  }

  /**
   * Watch streams open now stop carrying anything (events, BOOKMARKs) but stay
   * open, as a connection a middlebox black-holes; new watches are not affected.
   * Returns how many were frozen.
   */
  freezeOpenWatches(): number {
    for (const watch of this.watches) watch.frozen = true;
    return this.watches.size;
  }

  /** Ends every open watch stream cleanly (a complete HTTP response) and stops holding. */
  endWatches(): void {
    const open = [...this.watches];
    this.watches.clear();
    this.held = false;
    for (const watch of open) {
      watch.response.end();
      watch.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.endWatches();
    if (this.server instanceof Server) this.server.closeAllConnections();
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private forward(request: ProxyRequest, response: ProxyResponse): void {
    const url = new URL(request.url ?? '/', 'http://proxy');
    const isWatch = url.searchParams.get('watch') === 'true';
    const slices = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    if (slices !== null && !isWatch && request.method === 'GET') {
      this.listPages++;
      const namespace = decodeURIComponent(slices[1] ?? '');
      if (!url.searchParams.has('continue')) this.listsByNamespace.set(namespace, (this.listsByNamespace.get(namespace) ?? 0) + 1);
    }
    // HTTP/2's pseudo-headers (:path, :method, …) are not headers to pass on.
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !name.startsWith(':')));
    headers['host'] = this.upstream.host;
    const upstream = httpsRequest(
      new URL(request.url ?? '/', this.upstream),
      { method: request.method, headers, agent: this.agent },
      (answer) => {
        const { connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, ...passed } = answer.headers;
        response.writeHead(answer.statusCode ?? 502, passed);
        if (!isWatch) {
          answer.pipe(response as NodeJS.WritableStream);
          return;
        }
        const watch = { response, upstream, frozen: false };
        this.watches.add(watch);
        // Once endWatches() took a stream out of the set, its upstream's last words are ignored.
        answer.on('data', (chunk: Buffer) => {
          if (this.watches.has(watch) && !this.held && !watch.frozen) (response as NodeJS.WritableStream).write(chunk);
        });
        answer.on('end', () => {
          if (this.watches.delete(watch)) response.end();
        });
        answer.on('error', () => {
          if (this.watches.delete(watch)) response.destroy();
        });
      },
    );
    upstream.on('error', () => {
      if (response.writableEnded) return;
      if (!response.headersSent) response.writeHead(502).end();
      else response.destroy();
    });
    response.on('close', () => upstream.destroy());
    (request as NodeJS.ReadableStream).pipe(upstream);
  }
}
