import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type Http2ServerRequest } from 'node:http2';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

import { silentLogger } from '../../src/common/logging.js';
import { ApiCredentials, type ApiAccess } from '../../src/lookaside/discovery/api-access.js';
import { KubeTransport } from '../../src/lookaside/discovery/api-transport.js';
import { REPO_ROOT } from '../support/process.js';

/**
 * A self-signed certificate for localhost and 127.0.0.1, valid until 2126, made with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
 * -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`.
 */
const CERT = readFileSync(join(REPO_ROOT, 'test/support/tls/localhost.crt'), 'utf8');
const KEY = readFileSync(join(REPO_ROOT, 'test/support/tls/localhost.key'), 'utf8');

interface Seen {
  readonly httpVersion: string;
  readonly authorization: string | undefined;
  readonly path: string;
}

/** Starts `server`, answering every request with `{"ok":true}` and recording it; returns its port. */
async function serve(server: Server | ReturnType<typeof createSecureServer>, seen: Seen[], sockets: Set<Socket>): Promise<number> {
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.on('request', (request: IncomingMessage | Http2ServerRequest, response: { writeHead(code: number, headers: object): void; end(body: string): void }) => {
    seen.push({ httpVersion: request.httpVersion, authorization: request.headers['authorization'] as string | undefined, path: request.url ?? '' });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function access(port: number, ca: string | undefined): ApiAccess {
  return { server: `https://127.0.0.1:${port}`, tls: { ca, rejectUnauthorized: true }, headers: { authorization: 'Bearer t0ken' }, expiring: false };
}

async function body(transport: KubeTransport, path: string): Promise<string> {
  const answer = await transport.get(path, new AbortController().signal);
  let text = '';
  for await (const chunk of answer.body) text += String(chunk);
  return `${answer.status} ${text}`;
}

describe('KubeTransport: the lookaside’s own client for the API server', function () {
  this.timeout(20_000);
  const closers: Array<() => void> = [];

  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  it('speaks HTTP/2 to a server that offers it, with every request on one connection', async () => {
    const seen: Seen[] = [];
    const sockets = new Set<Socket>();
    const server = createSecureServer({ cert: CERT, key: KEY, allowHTTP1: true });
    const port = await serve(server, seen, sockets);
    const transport = new KubeTransport(new ApiCredentials(access(port, CERT)), silentLogger());
    closers.push(() => transport.close(), () => server.close());

    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => body(transport, `/apis/x?n=${i}`)));
    assert.ok(answers.every((answer) => answer === '200 {"ok":true}'), answers.join(' | '));
    assert.deepEqual(new Set(seen.map((request) => request.httpVersion)), new Set(['2.0']));
    assert.deepEqual(new Set(seen.map((request) => request.authorization)), new Set(['Bearer t0ken']));
    assert.equal(sockets.size, 1, 'one TCP connection');
    assert.equal(transport.connectionCount, 1);
  });

  it('falls back to HTTP/1.1 with kept-alive connections when the server offers only that', async () => {
    const seen: Seen[] = [];
    const sockets = new Set<Socket>();
    const server = createHttpsServer({ cert: CERT, key: KEY });
    const port = await serve(server, seen, sockets);
    const transport = new KubeTransport(new ApiCredentials(access(port, CERT)), silentLogger());
    closers.push(() => transport.close(), () => server.close());

    for (let i = 0; i < 5; i++) assert.equal(await body(transport, `/apis/x?n=${i}`), '200 {"ok":true}');
    assert.deepEqual(new Set(seen.map((request) => request.httpVersion)), new Set(['1.1']));
    assert.deepEqual(new Set(seen.map((request) => request.authorization)), new Set(['Bearer t0ken']));
    // One connection to find out the server's protocol, then one kept alive for all five.
    assert.equal(sockets.size, 2);
  });

  it('refuses a server whose certificate is not signed by the configured CA', async () => {
    const seen: Seen[] = [];
    const server = createSecureServer({ cert: CERT, key: KEY, allowHTTP1: true });
    const port = await serve(server, seen, new Set());
    const transport = new KubeTransport(new ApiCredentials(access(port, undefined)), silentLogger());
    closers.push(() => transport.close(), () => server.close());

    await assert.rejects(transport.get('/apis/x', new AbortController().signal), /self-signed certificate/);
    assert.equal(seen.length, 0);
  });
});
