import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';

import { bufCurl } from '../../support/buf-curl.js';
import {
  EndpointsFile,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
  type ListeningProcess,
} from '../../support/greet-stack.js';
import { httpCall, metricValue, postGreet, scrape } from '../../support/http.js';
import { eventually } from '../../support/process.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

/** Writes several Services into the endpoints file; `ready: false` marks a pod as not ready. */
async function writeServices(file: EndpointsFile, services: Record<string, readonly { server: GreetServerHandle; ready?: boolean }[]>): Promise<void> {
  const lines = ['services:'];
  for (const [name, endpoints] of Object.entries(services)) {
    lines.push(`  - name: ${name}`, '    namespace: default', '    endpoints:');
    for (const { server, ready = true } of endpoints) {
      lines.push(`      - { address: "${server.address}", pod: ${server.podName}, ready: ${ready} }`);
    }
  }
  await writeFile(`${file.path}.tmp`, `${lines.join('\n')}\n`);
  await rename(`${file.path}.tmp`, file.path);
}

/** Greets until `pod` answers; every answer on the way must be a 200. */
async function greetUntilPod(port: number, pod: string, timeoutMs: number): Promise<number> {
  let answered = 0;
  await eventually(
    async () => {
      const answer = await postGreet(port);
      assert.equal(answer.status, 200, answer.text);
      answered += 1;
      return answer.json?.['pod_name'] === pod ? true : undefined;
    },
    timeoutMs,
    `${pod} to answer`,
  );
  return answered;
}

describe('gateway and a lookaside connection that goes dead (frozen TCP proxy; real processes)', function () {
  this.timeout(90_000);
  const processes = new Processes();
  let servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess | undefined;
  let proxy: TcpProxy | undefined;

  beforeEach(async function () {
    this.timeout(90_000);
    servers = await Promise.all(['greet-0', 'greet-1', 'greet-new'].map((name) => startGreetServer(processes, name)));
    file = await EndpointsFile.create('greetserver', servers.slice(0, 2));
    lookaside = await startLookaside(processes, file);
    proxy = await TcpProxy.start(lookaside.port);
  });

  afterEach(async () => {
    await processes.stopAll();
    await proxy?.close();
    await file?.remove();
  });

  /**
   * A gateway through the proxy, warmed up on the lookaside's two pods, then
   * the proxy frozen and a pod added that only the lookaside knows. `quiet`:
   * first wait until the lookaside has heard how every Greet ended (the
   * gateway sends its last reports on their own shortly after its last
   * request), so that nothing at all is in flight when the proxy freezes.
   */
  async function freezeUnder(env: Record<string, string>, quiet = false): Promise<ListeningProcess> {
    const gateway = await startGateway(processes, {
      BALANCING: 'lookaside',
      LB_ADDR: (proxy as TcpProxy).address,
      RESOLVE_TIMEOUT_MS: '200',
      ...env,
    });
    await eventually(async () => ((await postGreet(gateway.port)).status === 200 ? true : undefined), 10_000, 'a first greeting');
    for (let i = 0; i < 4; i += 1) assert.equal((await postGreet(gateway.port)).status, 200);
    if (quiet) await eventually(async () => ((await outstandingCalls()) === 0 ? true : undefined), 10_000, 'every Greet reported');
    assert.equal((proxy as TcpProxy).connections.length, 1);
    (proxy as TcpProxy).freeze();
    await (file as EndpointsFile).write('greetserver', servers);
    return gateway;
  }

  /** Calls the lookaside counts as outstanding over every endpoint (GET /debug/endpoints on its metrics port, not proxied). */
  async function outstandingCalls(): Promise<number> {
    const answer = await httpCall((lookaside as ListeningProcess).metricsPort, 'GET', '/debug/endpoints?service=greetserver');
    const endpoints = (answer.json?.['endpoints'] ?? []) as { outstanding: number }[];
    return endpoints.reduce((sum, endpoint) => sum + endpoint.outstanding, 0);
  }

  it('under traffic: drops the connection under a stuck ResolveStream and resolves on a new one (PINGs off)', async () => {
    const gateway = await freezeUnder({ LB_KEEPALIVE_TIME_MS: '0' });
    // Requests keep being answered (from recently seen pods while the stream is stuck) until the new pod shows up.
    await greetUntilPod(gateway.port, 'greet-new', 30_000);
    const connections = (proxy as TcpProxy).connections;
    assert.equal(connections[0]?.closedBy, 'client', 'the gateway closed the frozen connection');
    assert.ok(connections.length >= 2);
    await gateway.process.waitForLog((line) => line.msg === 'connection to the lookaside dropped as dead; the next request reconnects');
  });

  it('idle: finds the dead connection by PINGs, before any request needs it', async () => {
    const gateway = await freezeUnder({ LB_KEEPALIVE_TIME_MS: '200', LB_KEEPALIVE_TIMEOUT_MS: '500' }, true);
    await eventually(() => ((proxy as TcpProxy).connections[0]?.closedBy === 'client' ? true : undefined), 20_000, 'the gateway to close the frozen connection');
    const dropped = await gateway.process.waitForLog((line) => line.msg === 'connection to the lookaside dropped as dead; the next request reconnects');
    assert.equal(dropped['reason'], 'no answer to a PING within 500 ms');
    await greetUntilPod(gateway.port, 'greet-new', 30_000);
    assert.equal((proxy as TcpProxy).connections.length, 2);
  });
});

describe('gateway and a lookaside that answers with faults of its own (real processes)', function () {
  this.timeout(90_000);
  const processes = new Processes();
  let servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  const files: EndpointsFile[] = [];

  before(async function () {
    this.timeout(90_000);
    servers = await Promise.all(['greet-0', 'greet-1'].map((name) => startGreetServer(processes, name)));
    file = await EndpointsFile.create('greetserver', servers);
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
    await Promise.all(files.map((extra) => extra.remove()));
  });

  it('keeps answering, degraded, when a restarted lookaside refuses its Service for MAX_SERVICES, and says so in /readyz', async () => {
    const first = await startLookaside(processes, file as EndpointsFile);
    const proxy = await TcpProxy.start(first.port);
    try {
      const gateway = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: proxy.address, RESOLVE_TIMEOUT_MS: '500' });
      for (let i = 0; i < 4; i += 1) assert.equal((await postGreet(gateway.port)).status, 200);

      // The replacement's only watch slot is taken by another Service (one that exists:
      // made-up names take no slot) before the gateway gets there.
      const both = await EndpointsFile.createMany({ greetserver: servers, someoneelse: servers.slice(0, 1) });
      files.push(both);
      const replacement = await startLookaside(processes, both, 0, { MAX_SERVICES: '1' });
      const filler = await bufCurl(`127.0.0.1:${replacement.port}`, 'lookaside.v1.Lookaside/Resolve', { service: 'someoneelse' });
      assert.equal(filler.exitCode, 0, filler.stderr);
      proxy.retarget(replacement.port);
      first.process.child.kill('SIGKILL');

      // Traffic goes on, answered by the pods seen before, until the gateway has met the replacement.
      const ready = await eventually(
        async () => {
          const greeted = await postGreet(gateway.port);
          assert.equal(greeted.status, 200, greeted.text);
          const answer = await httpCall(gateway.port, 'GET', '/readyz');
          return answer.json?.['lookaside'] === 'failing' ? answer : undefined;
        },
        20_000,
        '/readyz to say the lookaside is failing',
      );
      assert.equal(ready.status, 200);
      assert.equal(ready.json?.['status'], 'degraded');
      assert.equal(ready.json?.['reason'], 'the lookaside answers RESOURCE_EXHAUSTED');
      const answers = await Promise.all(Array.from({ length: 6 }, () => postGreet(gateway.port)));
      assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200, 200, 200]);
      assert.deepEqual(new Set(answers.map((answer) => answer.json?.['pod_name'])), new Set(['greet-0', 'greet-1']));
      assert.equal(metricValue(await scrape(gateway.port), 'greet_gateway_degraded'), 1);
      // Logged with the lookaside's words (first as unreachable, while the killed one's connection broke).
      const logged = await gateway.process.waitForLog((line) => line['failure'] === 'lookaside-fault' && line['code'] === 'RESOURCE_EXHAUSTED');
      assert.match(String(logged['reason']), /MAX_SERVICES/);
    } finally {
      await proxy.close();
    }
  });

  it('takes "no endpoint ready" from the lookaside as the answer: 503 with a short reason, and stays ready', async () => {
    await writeServices(file as EndpointsFile, {
      greetserver: servers.map((server) => ({ server })),
      notready: servers.map((server) => ({ server, ready: false })),
    });
    const lookaside = await startLookaside(processes, file as EndpointsFile);
    const gateway = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: `127.0.0.1:${lookaside.port}`, GRPC_SVC: 'notready' });
    const answer = await postGreet(gateway.port);
    assert.equal(answer.status, 503, answer.text);
    assert.deepEqual(answer.json, { error: { code: 'NO_BACKEND', message: 'no endpoint of Service default/notready is ready' } });
    const ready = await httpCall(gateway.port, 'GET', '/readyz');
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json?.['degraded'], false);
  });
});
