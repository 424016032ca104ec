import assert from 'node:assert/strict';
import { connect, createServer, type ClientHttp2Session, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { silentLogger } from '../../src/common/logging.js';
import { CONNECTION_WINDOW_BYTES, H2Sessions, STREAM_WINDOW_BYTES } from '../../src/lookaside/discovery/h2-sessions.js';
import { eventually } from '../support/process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/**
 * H2Sessions against a plaintext HTTP/2 server in the test (the production
 * `connect` adds TLS and ALPN; the pooling is the same). The server answers
 * `/quick` at once and holds `/hold` open, as a watch.
 */
class H2Server {
  readonly sessions = new Set<ServerHttp2Session>();
  readonly held: ServerHttp2Stream[] = [];

  private constructor(readonly server: Http2Server) {
    server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
    });
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      if (headers[':path'] === '/hold') this.held.push(stream);
      else stream.end('done');
    });
  }

  static async start(maxConcurrentStreams?: number): Promise<H2Server> {
    const server = createServer(maxConcurrentStreams === undefined ? {} : { settings: { maxConcurrentStreams } });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new H2Server(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Opens a plaintext session to 127.0.0.1:`port` and waits for the server's SETTINGS, as connectApiServer does. */
function plaintext(port: number): () => Promise<ClientHttp2Session> {
  return () =>
    new Promise((resolve, reject) => {
      const session = connect(`http://127.0.0.1:${port}`);
      session.once('error', reject);
      session.once('remoteSettings', () => resolve(session));
    });
}

function request(sessions: H2Sessions, path: string): Promise<{ status: number }> {
  return sessions.request({ ':method': 'GET', ':path': path }, new AbortController().signal);
}

describe('H2Sessions: every API request over as few HTTP/2 connections as the server allows', function () {
  this.timeout(20_000);
  let server: H2Server;
  let pool: H2Sessions | undefined;
  let proxy: TcpProxy | undefined;

  afterEach(async () => {
    pool?.close();
    pool = undefined;
    await proxy?.close();
    proxy = undefined;
    await server.close();
  });

  it('carries 200 concurrent requests and 50 open watches over one connection', async () => {
    server = await H2Server.start();
    pool = new H2Sessions({ connect: plaintext(server.port), logger: silentLogger() });
    const watches = await Promise.all(Array.from({ length: 50 }, () => request(pool!, '/hold')));
    const answers = await Promise.all(Array.from({ length: 200 }, () => request(pool!, '/quick')));
    assert.ok(watches.every((answer) => answer.status === 200) && answers.every((answer) => answer.status === 200));
    assert.equal(server.sessions.size, 1);
    assert.equal(pool.connectionCount, 1);
  });

  it('lets the server send 4 MiB per stream and 16 MiB per connection before it must wait (a list of a few MB in one go)', async () => {
    server = await H2Server.start();
    pool = new H2Sessions({ connect: plaintext(server.port), logger: silentLogger() });
    await request(pool, '/quick');
    const [session] = [...server.sessions];
    await eventually(() => (session?.remoteSettings.initialWindowSize === STREAM_WINDOW_BYTES ? true : undefined), 5_000, 'the SETTINGS');
    // Less what the answer to /quick took and no window update has given back yet.
    assert.ok((session?.state.remoteWindowSize ?? 0) > CONNECTION_WINDOW_BYTES - 65_536, String(session?.state.remoteWindowSize));
  });

  it('opens another connection once the server’s stream limit is reached by open streams', async () => {
    server = await H2Server.start(3);
    pool = new H2Sessions({ connect: plaintext(server.port), logger: silentLogger() });
    for (let i = 0; i < 7; i++) await request(pool, '/hold');
    assert.equal(server.held.length, 7, 'every watch was answered, none queued behind the limit');
    assert.equal(server.sessions.size, 3);
    assert.equal(pool.connectionCount, 3);
  });

  it('sends new streams to a new connection after a GOAWAY and lets the open ones finish', async () => {
    server = await H2Server.start();
    pool = new H2Sessions({ connect: plaintext(server.port), logger: silentLogger() });
    const watch = await sessionsRequest(pool, '/hold');
    const heard = new Promise<void>((resolve) => watch.stream.session?.once('goaway', () => resolve()));
    [...server.sessions][0]?.goaway();
    await heard;
    await request(pool, '/quick');
    assert.equal(server.sessions.size, 2, 'a second connection for the new request');
    const body = collect(watch.stream);
    server.held[0]?.end('still served');
    assert.equal(await body, 'still served');
  });

  it('replaces a connection whose peer stops answering PINGs, ending its streams', async () => {
    server = await H2Server.start();
    proxy = await TcpProxy.start(server.port);
    pool = new H2Sessions({ connect: plaintext(proxy.port), logger: silentLogger(), pingIntervalMs: 50, pingTimeoutMs: 1_000 });
    const watch = await sessionsRequest(pool, '/hold');
    const ended = new Promise<void>((resolve) => watch.stream.once('close', () => resolve()));
    assert.equal(proxy.freeze(), 1);
    await ended;
    await eventually(() => (pool?.connectionCount === 0 ? true : undefined), 5_000, 'the silent connection to be gone');
    assert.equal((await request(pool, '/quick')).status, 200, 'the next request gets a new connection');
    assert.equal(proxy.accepted, 2);
  });
});

function sessionsRequest(pool: H2Sessions, path: string): ReturnType<H2Sessions['request']> {
  return pool.request({ ':method': 'GET', ':path': path }, new AbortController().signal);
}

function collect(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}
