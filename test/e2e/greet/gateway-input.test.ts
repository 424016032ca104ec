import assert from 'node:assert/strict';
import { connect } from 'node:net';

import {
  EndpointsFile,
  lookasideGatewayEnv,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
  type ListeningProcess,
} from '../../support/greet-stack.js';
import { GREETING, httpCall, metricValue, postGreet, scrape, type HttpAnswer } from '../../support/http.js';
import { ServiceProcess } from '../../support/process.js';

const JSON_TYPE = { 'content-type': 'application/json' };

interface BadInput {
  readonly name: string;
  readonly send: (port: number) => Promise<HttpAnswer>;
  readonly status: number;
  readonly code: string;
  readonly message?: RegExp;
}

const BAD_INPUTS: readonly BadInput[] = [
  { name: 'GET /greet', send: (port) => httpCall(port, 'GET', '/greet'), status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'DELETE /healthz', send: (port) => httpCall(port, 'DELETE', '/healthz'), status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'POST /metrics', send: (port) => httpCall(port, 'POST', '/metrics', { body: '' }), status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'an unknown path', send: (port) => httpCall(port, 'GET', '/hello'), status: 404, code: 'NOT_FOUND', message: /\/hello/ },
  {
    name: 'no content-type',
    send: (port) => httpCall(port, 'POST', '/greet', { body: JSON.stringify(GREETING) }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a text/plain body',
    send: (port) => httpCall(port, 'POST', '/greet', { headers: { 'content-type': 'text/plain' }, body: 'Ada Lovelace' }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a gzip-encoded body',
    send: (port) =>
      httpCall(port, 'POST', '/greet', { headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, body: JSON.stringify(GREETING) }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'broken JSON', send: (port) => postGreet(port, '{"first_name": "Ada",'), status: 400, code: 'INVALID_JSON' },
  { name: 'an empty body', send: (port) => postGreet(port, ''), status: 400, code: 'INVALID_JSON' },
  { name: 'a JSON array', send: (port) => postGreet(port, '[1,2]'), status: 400, code: 'INVALID_ARGUMENT', message: /JSON object/ },
  {
    name: 'a missing first_name',
    send: (port) => postGreet(port, { last_name: 'Lovelace' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: /first_name is required/,
  },
  {
    name: 'a non-string last_name',
    send: (port) => postGreet(port, { first_name: 'Ada', last_name: 7 }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: /last_name must be a string/,
  },
  {
    name: 'a 257-character name',
    send: (port) => postGreet(port, { first_name: 'a'.repeat(257), last_name: 'Lovelace' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: /at most 256 characters/,
  },
  {
    name: 'a 17 KiB body with content-length',
    send: (port) => postGreet(port, { first_name: 'Ada', last_name: 'Lovelace', padding: 'x'.repeat(17 * 1024) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'a 17 KiB chunked body (no content-length)',
    send: (port) =>
      httpCall(port, 'POST', '/greet', {
        headers: { ...JSON_TYPE, 'transfer-encoding': 'chunked' },
        body: JSON.stringify({ first_name: 'Ada', last_name: 'Lovelace', padding: 'x'.repeat(17 * 1024) }),
      }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'a name with a newline',
    send: (port) => postGreet(port, { first_name: 'Ada\nSet-Cookie: x', last_name: 'Lovelace' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: /first_name must not contain control characters.*U\+000A/,
  },
  {
    name: 'a name with a terminal escape',
    send: (port) => postGreet(port, { first_name: 'Ada', last_name: '\u001b]0;pwned\u0007' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    message: /last_name must not contain control characters.*U\+001B/,
  },
  { name: 'malformed HTTP', send: (port) => rawRequest(port, 'HELLO\r\n\r\n'), status: 400, code: 'BAD_REQUEST' },
];

/** Writes raw bytes to the gateway and parses whatever HTTP answer comes back. */
function rawRequest(port: number, bytes: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ status, headers: {}, text: received, json });
    });
  });
}

/** A body for callers: no pod or lookaside address, no file path, no low-level error. */
function assertNoInternals(answer: HttpAnswer): void {
  assert.doesNotMatch(answer.text, /127\.0\.0\.1|\/tmp\/|endpoints\.yaml|ECONNREFUSED|No connection established|Deadline exceeded/i, answer.text);
}

function assertJsonError(answer: HttpAnswer, status: number, code: string, message?: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  const error = answer.json?.['error'] as Record<string, unknown> | undefined;
  assert.equal(error?.['code'], code, answer.text);
  assert.equal(typeof error?.['message'], 'string');
  assert.notEqual(error?.['message'], '');
  if (message !== undefined) assert.match(String(error?.['message']), message);
}

describe('gateway HTTP edge: bad input, errors, probes (real processes)', function () {
  this.timeout(60_000);
  const processes = new Processes();
  let server: GreetServerHandle | undefined;
  let slowServer: GreetServerHandle | undefined;
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess | undefined;
  let gateway: ListeningProcess | undefined;

  before(async function () {
    this.timeout(90_000);
    [server, slowServer] = await Promise.all([
      startGreetServer(processes, 'greet-0'),
      startGreetServer(processes, 'greet-slow', { GREET_DELAY_MS: '2000' }),
    ]);
    file = await EndpointsFile.create('greetserver', [server]);
    lookaside = await startLookaside(processes, file);
    gateway = await startGateway(processes, lookasideGatewayEnv(lookaside));
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
  });

  for (const input of BAD_INPUTS) {
    it(`answers ${input.name} with ${input.status} ${input.code} in JSON, then still serves`, async () => {
      const port = (gateway as ListeningProcess).port;
      assertJsonError(await input.send(port), input.status, input.code, input.message);
      const good = await postGreet(port);
      assert.equal(good.status, 200, good.text);
    });
  }

  it('says 405 with an Allow header', async () => {
    const answer = await httpCall((gateway as ListeningProcess).port, 'GET', '/greet');
    assert.equal(answer.headers['allow'], 'POST');
  });

  it('answers 503 NO_BACKEND when the lookaside knows no such Service, without the lookaside\'s endpoints file in the body', async () => {
    const other = await startGateway(processes, lookasideGatewayEnv(lookaside as ListeningProcess, { GRPC_SVC: 'nosuchservice' }));
    const answer = await postGreet(other.port);
    assertJsonError(answer, 503, 'NO_BACKEND', /^the lookaside knows no endpoints of Service default\/nosuchservice$/);
    assertNoInternals(answer);
  });

  it('answers 503 NO_BACKEND when no lookaside was ever reachable, and says why in /readyz, without the transport error', async () => {
    const other = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: '127.0.0.1:1', RESOLVE_TIMEOUT_MS: '200' });
    const answer = await postGreet(other.port);
    assertJsonError(answer, 503, 'NO_BACKEND', /unreachable/);
    assertNoInternals(answer);
    const ready = await httpCall(other.port, 'GET', '/readyz');
    assertJsonError(ready, 503, 'NOT_READY', /unreachable/);
    assertNoInternals(ready);
    // The details are in the log.
    await other.process.waitForLog((line) => line.msg === 'greet failed' && /127\.0\.0\.1:1/.test(String(line['detail'])));
  });

  it('answers 504 BACKEND_TIMEOUT when the greet server is slower than GREET_TIMEOUT_MS, without its address', async () => {
    const other = await startGateway(processes, { BALANCING: 'none', GRPC_TARGET: `ipv4:${(slowServer as GreetServerHandle).address}`, GREET_TIMEOUT_MS: '300' });
    const answer = await postGreet(other.port);
    assertJsonError(answer, 504, 'BACKEND_TIMEOUT');
    assertNoInternals(answer);
  });

  it('answers 503 NO_BACKEND when the greet server is down, without its address or the gRPC error', async () => {
    const down = await startGreetServer(processes, 'greet-down');
    await down.process.stop();
    const other = await startGateway(processes, { BALANCING: 'none', GRPC_TARGET: `ipv4:${down.address}` });
    const answer = await postGreet(other.port);
    assertJsonError(answer, 503, 'NO_BACKEND', /^no greet server could take the call$/);
    assertNoInternals(answer);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const port = (gateway as ListeningProcess).port;
    const health = await httpCall(port, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    const ready = await httpCall(port, 'GET', '/readyz?verbose=1');
    assert.equal(ready.status, 200);
    assert.equal(ready.json?.['status'], 'ready');
    assert.equal(ready.json?.['lookaside'], 'reachable');
    const page = await scrape(port);
    assert.ok(metricValue(page, 'http_requests_total', { route: '/greet', method: 'POST', code: '200' }) >= 1);
    assert.ok(metricValue(page, 'http_requests_total', { route: '/greet', method: 'POST', code: '400' }) >= 1);
    assert.ok(metricValue(page, 'http_requests_total', { route: 'other', method: 'GET', code: '404' }) >= 1);
    assert.ok(metricValue(page, 'http_request_duration_seconds_count', { route: '/greet', method: 'POST', code: '200' }) >= 1);
    assert.ok(metricValue(page, 'greet_gateway_resolve_duration_seconds_count') >= 1);
    assert.ok(metricValue(page, 'greet_gateway_backend_calls_total', { address: (server as GreetServerHandle).address, result: 'OK' }) >= 1);
    assert.equal(metricValue(page, 'greet_gateway_degraded'), 0);
  });

  it('refuses a bad setting at start-up, naming the variable', async () => {
    const process = processes.add(ServiceProcess.start('src/greet/gateway/main.js', { BALANCING: 'magic' }));
    assert.equal(await process.waitForExit(), 1);
    assert.match(process.stderr, /BALANCING: must be one of lookaside, round_robin, none/);
  });

  it('on SIGTERM fails /readyz during the drain window, then exits 0', async () => {
    const other = await startGateway(processes, { ...lookasideGatewayEnv(lookaside as ListeningProcess), SHUTDOWN_DRAIN_MS: '1500' });
    assert.equal((await postGreet(other.port)).status, 200);
    other.process.child.kill('SIGTERM');
    await other.process.waitForLog((line) => line.msg === 'shutting down');
    assertJsonError(await httpCall(other.port, 'GET', '/readyz'), 503, 'NOT_READY', /shutting down/);
    assert.equal((await postGreet(other.port)).status, 200, 'requests are still served while draining');
    assert.equal(await other.process.waitForExit(), 0);
  });
});
