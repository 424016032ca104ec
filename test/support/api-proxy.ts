import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A plain-HTTP reverse proxy in front of a real kube-apiserver, so a test can do
 * to the lookaside's watches what a network or a long outage would: hold or
 * freeze them (events stop arriving, the stream stays open) and end them cleanly, as
 * the API server does when a watch's timeout runs out. The lookaside then
 * resumes from the last resourceVersion it saw.
 */
export class ApiProxy {
  private readonly watches = new Set<{ response: ServerResponse; upstream: ReturnType<typeof httpsRequest>; frozen: boolean }>();
  private held = false;
  private readonly agent: Agent;

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    ca: Buffer,
  ) {
    this.agent = new Agent({ keepAlive: true, ca });
    server.on('request', (request, response) => this.forward(request, response));
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `upstream` (https://…, verified with `ca`). */
  static async start(upstream: string, ca: Buffer): Promise<ApiProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new ApiProxy(server, new URL(upstream), ca);
  }

  /** http://127.0.0.1:<port>, for a kubeconfig. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Watch streams currently open through the proxy. */
  get openWatches(): number {
    return this.watches.size;
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
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private forward(request: IncomingMessage, response: ServerResponse): void {
    const isWatch = new URL(request.url ?? '/', 'http://proxy').searchParams.get('watch') === 'true';
    const headers = { ...request.headers, host: this.upstream.host };
    const upstream = httpsRequest(
      new URL(request.url ?? '/', this.upstream),
      { method: request.method, headers, agent: this.agent },
      (answer) => {
        const { connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, ...passed } = answer.headers;
        response.writeHead(answer.statusCode ?? 502, passed);
        if (!isWatch) {
          answer.pipe(response);
          return;
        }
        const watch = { response, upstream, frozen: false };
        this.watches.add(watch);
        // Once endWatches() took a stream out of the set, its upstream's last words are ignored.
        answer.on('data', (chunk: Buffer) => {
          if (this.watches.has(watch) && !this.held && !watch.frozen) response.write(chunk);
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
    request.pipe(upstream);
  }
}
