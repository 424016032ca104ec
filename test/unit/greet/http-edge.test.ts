import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';

import { pino } from 'pino';
import { Registry } from 'prom-client';

import type { HttpLimits } from '../../../src/greet/gateway/config.js';
import { HttpEdge } from '../../../src/greet/gateway/http-edge.js';
import { GatewayMetrics } from '../../../src/greet/gateway/metrics.js';
import type { GreetRouter, RouteOutcome } from '../../../src/greet/gateway/router.js';
import { httpCall, metricValue, postGreet } from '../../support/http.js';
import { eventually } from '../../support/process.js';

const LIMITS: HttpLimits = { maxConnections: 100, headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 2_000 };

/** What one raw connection received, once the gateway closed it. */
interface RawAnswer {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

/** Collects everything the gateway sends on `socket` until it closes it. */
function untilClosed(socket: Socket): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const body = text.split('\r\n\r\n')[1] ?? '';
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text, json });
    });
  });
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function errorCode(answer: { json: Record<string, unknown> | undefined }): unknown {
  return (answer.json?.['error'] as Record<string, unknown> | undefined)?.['code'];
}

describe('gateway HTTP edge: slow, idle and surplus connections; what callers are told', () => {
  let edge: HttpEdge | undefined;
  let registry: Registry;
  let logLines: Record<string, unknown>[];
  let outcome: RouteOutcome;
  let nowMs = 0;
  const sockets: Socket[] = [];

  async function start(limits: Partial<HttpLimits> = {}): Promise<number> {
    registry = new Registry();
    logLines = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    const router: GreetRouter = {
      mode: 'lookaside',
      greet: () => Promise.resolve(outcome),
      readiness: () => ({ ready: true, summary: 'ok', detail: {} }),
      close: () => undefined,
    };
    edge = new HttpEdge({
      router,
      registry,
      metrics: new GatewayMetrics(registry),
      logger: pino({ level: 'debug' }, sink),
      limits: { ...LIMITS, ...limits },
      now: () => nowMs,
    });
    return edge.listen('127.0.0.1', 0);
  }

  /** Starts the edge, opens one raw connection to it, and collects what comes back until it is closed. */
  async function connectRaw(limits: Partial<HttpLimits> = {}): Promise<{ socket: Socket; closed: Promise<RawAnswer> }> {
    const socket = await openSocket(await start(limits));
    sockets.push(socket);
    return { socket, closed: untilClosed(socket) };
  }

  beforeEach(() => {
    outcome = { ok: true, response: { result: 'Hello', pod_name: 'greet-0', pod_ip: '10.0.0.1' }, address: '10.0.0.1:50051' };
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await edge?.close(0);
    edge = undefined;
  });

  it('answers 408 REQUEST_TIMEOUT in JSON to headers that drip in slower than the headers timeout (slowloris)', async () => {
    const { socket, closed } = await connectRaw();
    socket.write('POST /greet HTTP/1.1\r\nHost: gateway\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 50);
    try {
      const received = await closed;
      assert.equal(received.status, 408, received.text);
      assert.equal(errorCode(received), 'REQUEST_TIMEOUT');
    } finally {
      clearInterval(drip);
    }
  });

  it('answers 408 to a body that does not arrive within the request timeout', async () => {
    const { socket, closed } = await connectRaw();
    socket.write('POST /greet HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"first_na');
    const received = await closed;
    assert.equal(received.status, 408, received.text);
    assert.equal(errorCode(received), 'REQUEST_TIMEOUT');
  });

  it('closes a connection that never sends a request, after the headers timeout, with a 408', async () => {
    const { closed } = await connectRaw();
    const received = await closed;
    assert.equal(received.status, 408, received.text);
  });

  it('tells kept-alive clients the idle limit, and closes an idle kept-alive connection', async () => {
    const { socket, closed } = await connectRaw({ headersTimeoutMs: 30_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 1_000 });
    socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
    const received = await closed;
    assert.equal(received.status, 200);
    assert.match(received.text, /keep-alive: timeout=1\r\n/i);
  });

  it('closes connections over the cap as they arrive, counts them, and serves again once one closes', async () => {
    const port = await start({ maxConnections: 2, headersTimeoutMs: 30_000, requestTimeoutMs: 30_000 });
    const held = [await openSocket(port), await openSocket(port)];
    sockets.push(...held);
    // Both are in: the server answered on each.
    for (const socket of held) {
      const first = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))));
      socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
      assert.match(await first, /^HTTP\/1\.1 200/);
    }
    const surplus = await openSocket(port);
    sockets.push(surplus);
    const refused = await untilClosed(surplus);
    assert.equal(refused.text, '', 'closed before a byte was read or written');
    assert.equal(metricValue(await registry.metrics(), 'greet_gateway_http_connections_refused_total'), 1);

    held[0]?.destroy();
    const served = await eventually(async () => {
      const answer = await httpCall(port, 'GET', '/healthz').catch(() => undefined);
      return answer?.status === 200 ? answer : undefined;
    }, 10_000, 'a connection to be taken again');
    assert.equal(served.status, 200);
  });

  const FAILURES: [RouteOutcome & { ok: false }, number, string][] = [
    [{ ok: false, kind: 'no-backend', message: 'no greet server could take the call', detail: 'greet server 10.0.0.1:50051: UNAVAILABLE: connect ECONNREFUSED 10.0.0.1:50051' }, 503, 'NO_BACKEND'],
    [{ ok: false, kind: 'backend-error', message: 'the greet server failed the call (INTERNAL)', detail: 'greet server 10.0.0.1:50051: INTERNAL: Received RST_STREAM with code 2' }, 502, 'BACKEND_ERROR'],
    [{ ok: false, kind: 'timeout', message: 'the greet server did not answer in time', detail: 'greet server 10.0.0.1:50051: DEADLINE_EXCEEDED: Deadline exceeded after 2.001s' }, 504, 'BACKEND_TIMEOUT'],
  ];
  for (const [failure, status, code] of FAILURES) {
    it(`answers ${status} ${code} with the short reason only, and logs the details`, async () => {
      const port = await start();
      outcome = failure;
      const answer = await postGreet(port);
      assert.equal(answer.status, status);
      assert.deepEqual(answer.json, { error: { code, message: failure.message } });
      assert.doesNotMatch(answer.text, /10\.0\.0\.1/);
      const logged = logLines.find((line) => line['msg'] === 'greet failed');
      assert.equal(logged?.['detail'], failure.detail);
      assert.equal(logged?.['level'], 40, 'at warn');
    });
  }

  it('logs 5xx details at warn at most once per 10 s per kind, the rest at debug, and says how many it held back', async () => {
    const port = await start();
    outcome = FAILURES[0]?.[0] as RouteOutcome;
    for (const atMs of [0, 1_000, 9_999, 10_000, 10_001]) {
      nowMs = atMs;
      assert.equal((await postGreet(port)).status, 503);
    }
    const failures = logLines.filter((line) => line['msg'] === 'greet failed');
    assert.deepEqual(failures.map((line) => line['level']), [40, 20, 20, 40, 20]);
    assert.equal(failures[3]?.['alsoFailedSinceLastWarning'], 2);
  });
});
