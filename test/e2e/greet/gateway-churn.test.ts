import assert from 'node:assert/strict';

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
import { greetingsPerPod, metricValue, postGreet, scrape } from '../../support/http.js';
import { eventually } from '../../support/process.js';

interface Answered {
  readonly atMs: number;
  readonly status: number;
  readonly pod: string;
  /** The error, for a failed request. */
  readonly error?: unknown;
}

/** Sends greetings one after another until `untilMs` (Date.now() time); returns each answer. */
function greetUntil(port: number, untilMs: number): Promise<Answered[]> {
  return greetWhile(port, () => Date.now() < untilMs);
}

/** Sends greetings one after another while `goOn()` says so; returns each answer. */
async function greetWhile(port: number, goOn: () => boolean): Promise<Answered[]> {
  const answers: Answered[] = [];
  while (goOn()) {
    const answer = await postGreet(port);
    answers.push({
      atMs: Date.now(),
      status: answer.status,
      pod: String(answer.json?.['pod_name']),
      ...(answer.status === 200 ? {} : { error: answer.json?.['error'] ?? answer.text }),
    });
  }
  return answers;
}

describe('gateway under churn: endpoints file edits (real processes)', function () {
  this.timeout(60_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess | undefined;
  let gateway: ListeningProcess | undefined;

  before(async function () {
    this.timeout(90_000);
    servers.push(...(await Promise.all(['greet-0', 'greet-1', 'greet-2', 'greet-3'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers.slice(0, 3));
    lookaside = await startLookaside(processes, file);
    gateway = await startGateway(processes, lookasideGatewayEnv(lookaside, { CHANNEL_IDLE_MS: '500' }));
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
  });

  it('stops sending to an endpoint once the lookaside has applied its removal, then closes its channel', async () => {
    const port = (gateway as ListeningProcess).port;
    const [greet0, greet1, greet2] = servers as [GreetServerHandle, GreetServerHandle, GreetServerHandle];
    assert.deepEqual(Object.keys(await greetingsPerPod(port, 30)).sort(), ['greet-0', 'greet-1', 'greet-2']);

    await (file as EndpointsFile).write('greetserver', [greet0, greet1]);
    // Waits on the lookaside's own word, not on the clock: a loaded machine may take a while to reload.
    const removal = (lookaside as ListeningProcess).process.waitForLog(
      (line) => line.msg === 'endpoints changed' && line['service'] === 'greetserver' && line['ready'] === 2,
      30_000,
    );
    let applied = false;
    const settled = removal.finally(() => {
      applied = true;
    });
    const during = await greetWhile(port, () => !applied);
    await settled;
    const after = await greetUntil(port, Date.now() + 500);

    assert.deepEqual([...during, ...after].filter((answer) => answer.status !== 200), [], 'requests failed during the removal');
    const lateAnswers = after.filter((answer) => answer.pod === greet2.podName);
    assert.deepEqual(lateAnswers, [], 'greet-2 still answered after the lookaside applied its removal');
    assert.deepEqual(new Set(after.map((answer) => answer.pod)), new Set(['greet-0', 'greet-1']));

    const closed = await (gateway as ListeningProcess).process.waitForLog(
      (line) => line.msg === 'channel closed' && line['address'] === greet2.address,
      5_000,
    );
    assert.equal(closed['reason'], 'idle');
    const page = await scrape(port);
    assert.equal(metricValue(page, 'greet_gateway_channels'), 2);
    assert.equal(metricValue(page, 'greet_gateway_channels_closed_total', { reason: 'idle' }), 1);
  });

  it('gives an added endpoint its share of the rotation', async () => {
    const port = (gateway as ListeningProcess).port;
    const [greet0, greet1, , greet3] = servers as [GreetServerHandle, GreetServerHandle, GreetServerHandle, GreetServerHandle];
    await (file as EndpointsFile).write('greetserver', [greet0, greet1, greet3]);
    await eventually(
      async () => ((await postGreet(port)).json?.['pod_name'] === greet3.podName ? true : undefined),
      3_000,
      'greet-3 to answer',
    );
    assert.deepEqual(await greetingsPerPod(port, 300), { 'greet-0': 100, 'greet-1': 100, 'greet-3': 100 });
  });
});

describe('gateway under failures: killed greet server, killed lookaside (real processes)', function () {
  this.timeout(60_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess | undefined;
  let gateway: ListeningProcess | undefined;

  before(async function () {
    this.timeout(90_000);
    // A little latency keeps several calls in flight on every server at any moment.
    servers.push(
      ...(await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name, { GREET_DELAY_MS: '20' })))),
    );
    file = await EndpointsFile.create('greetserver', servers);
    lookaside = await startLookaside(processes, file);
    gateway = await startGateway(processes, lookasideGatewayEnv(lookaside, { RESOLVE_TIMEOUT_MS: '200' }));
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
  });

  it('loses no request when a greet server is killed mid-load: calls in flight on it are retried elsewhere', async () => {
    const port = (gateway as ListeningProcess).port;
    const victim = servers[1] as GreetServerHandle;
    const before = await scrape(port);
    const stopAtMs = Date.now() + 2_500;
    const load = Promise.all(Array.from({ length: 12 }, () => greetUntil(port, stopAtMs)));
    await new Promise((resolve) => setTimeout(resolve, 800));
    victim.process.child.kill('SIGKILL');
    const killedAtMs = Date.now();
    const answers = (await load).flat();

    const failed = answers.filter((answer) => answer.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${answers.length} requests failed`);
    assert.ok(answers.some((answer) => answer.pod === victim.podName && answer.atMs < killedAtMs), 'the victim served before the kill');
    assert.ok(!answers.some((answer) => answer.pod === victim.podName && answer.atMs > killedAtMs + 100));

    const page = await scrape(port);
    const retried = metricValue(page, 'greet_gateway_retries_total') - metricValue(before, 'greet_gateway_retries_total');
    const unavailableOnVictim = metricValue(page, 'greet_gateway_backend_calls_total', { address: victim.address, result: 'Unavailable' });
    assert.ok(unavailableOnVictim >= 1, 'no call failed on the victim: the kill did not hit calls in flight');
    assert.ok(retried >= unavailableOnVictim, `${unavailableOnVictim} calls failed on the victim but only ${retried} were retried`);
  });

  it('keeps answering, degraded, while the lookaside is down, and recovers when it returns', async () => {
    const port = (gateway as ListeningProcess).port;
    const alive = servers.filter((server) => server.process.child.exitCode === null && server.process.child.signalCode === null);
    await (file as EndpointsFile).write('greetserver', alive);
    await eventually(async () => {
      const pods = await greetingsPerPod(port, 6);
      return Object.keys(pods).length === alive.length ? true : undefined;
    }, 5_000, 'the gateway to use only the live servers');

    const lookasidePort = (lookaside as ListeningProcess).port;
    (lookaside as ListeningProcess).process.child.kill('SIGKILL');
    await (lookaside as ListeningProcess).process.waitForExit();

    const whileDown = await greetingsPerPod(port, 40);
    assert.deepEqual(Object.keys(whileDown).sort(), alive.map((server) => server.podName).sort());
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const readyBody = (await ready.json()) as Record<string, unknown>;
    assert.equal(ready.status, 200);
    assert.equal(readyBody['status'], 'degraded');
    assert.equal(readyBody['degraded'], true);
    assert.equal(metricValue(await scrape(port), 'greet_gateway_degraded'), 1);
    const unreachableLogs = (gateway as ListeningProcess).process.logs.filter((line) => String(line.msg).startsWith('lookaside unreachable'));
    assert.equal(unreachableLogs.length, 1, 'the state change is logged once, not per request');

    lookaside = await startLookaside(processes, file as EndpointsFile, lookasidePort);
    await eventually(
      async () => {
        const body = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as Record<string, unknown>;
        return body['lookaside'] === 'reachable' ? true : undefined;
      },
      10_000,
      'the gateway to reach the lookaside again',
    );
    assert.equal(metricValue(await scrape(port), 'greet_gateway_degraded'), 0);
    await (gateway as ListeningProcess).process.waitForLog((line) => line.msg === 'lookaside reachable again; balancing through it');
    const perPod = await greetingsPerPod(port, 100 * alive.length);
    assert.deepEqual(Object.values(perPod), alive.map(() => 100));
  });
});
