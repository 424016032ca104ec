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
import { greetingsPerPod, httpCall, metricValue, postGreet, scrape } from '../../support/http.js';
import { eventually } from '../../support/process.js';

interface EndpointView {
  readonly address: string;
  readonly pod_name: string;
  readonly outstanding: number;
  readonly failures: number;
  readonly ejected: boolean;
  readonly ejections: number;
  readonly weight: number | null;
}

interface Stack {
  readonly servers: GreetServerHandle[];
  readonly lookaside: ListeningProcess;
  readonly gateway: ListeningProcess;
}

/** Sends `count` greetings one after another; the HTTP status of each. */
async function statuses(port: number, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i += 1) seen.push((await postGreet(port)).status);
  return seen;
}

/** Sends `count` greetings one after another; the pod that answered each (its status when not 200). */
async function answeredBy(port: number, count: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const answer = await postGreet(port);
    seen.push(answer.status === 200 ? String(answer.json?.['pod_name']) : String(answer.status));
  }
  return seen;
}

/** The gateway for the hedging tests: greet-0 (GREET_DELAY_MS 3 s) hangs past the hedge delay, within a budget that would wait it out. */
const HEDGING_GATEWAY = { LB_POLICY: 'round_robin', GREET_TIMEOUT_MS: '5000', GREET_HEDGE_DELAY_MS: '200' };

/** Greet calls a server answered with `code` (grpc_code label, e.g. OK, Unavailable). */
async function handled(server: GreetServerHandle, code: string): Promise<number> {
  return metricValue(await scrape(server.metricsPort), 'grpc_server_handled_total', { grpc_method: 'Greet', grpc_code: code });
}

describe('load- and failure-aware balancing through the built processes (3 greet servers, lookaside, gateway)', function () {
  this.timeout(90_000);
  const processes = new Processes();
  const files: EndpointsFile[] = [];

  afterEach(async () => {
    await processes.stopAll();
    for (const file of files.splice(0)) await file.remove();
  });

  async function start(serverEnvs: Record<string, string>[], lookasideEnv: Record<string, string>, gatewayEnv: Record<string, string>): Promise<Stack> {
    const servers = await Promise.all(serverEnvs.map((env, index) => startGreetServer(processes, `greet-${index}`, env)));
    const file = await EndpointsFile.create('greetserver', servers);
    files.push(file);
    const lookaside = await startLookaside(processes, file, 0, lookasideEnv);
    const gateway = await startGateway(processes, lookasideGatewayEnv(lookaside, gatewayEnv));
    return { servers, lookaside, gateway };
  }

  async function endpoints(stack: Stack): Promise<EndpointView[]> {
    const answer = await httpCall(stack.lookaside.metricsPort, 'GET', '/debug/endpoints?service=greetserver&namespace=default');
    assert.equal(answer.status, 200, answer.text);
    return (answer.json?.['endpoints'] ?? []) as EndpointView[];
  }

  async function reportedAtLookaside(stack: Stack, code: string): Promise<number> {
    return metricValue(await scrape(stack.lookaside.metricsPort), 'lookaside_call_results_total', { code });
  }

  async function endpointOf(stack: Stack, server: GreetServerHandle): Promise<EndpointView> {
    const found = (await endpoints(stack)).find((endpoint) => endpoint.address === server.address);
    assert.ok(found !== undefined, `${server.address} is not listed`);
    return found;
  }

  it('hears of every Greet the gateway makes, and no call stays outstanding once the gateway is quiet', async () => {
    const stack = await start([{}, {}, {}], {}, { LB_POLICY: 'round_robin' });
    assert.deepEqual(await greetingsPerPod(stack.gateway.port, 90, 3), { 'greet-0': 30, 'greet-1': 30, 'greet-2': 30 });
    await eventually(async () => {
      const page = await scrape(stack.lookaside.metricsPort);
      return metricValue(page, 'lookaside_call_results_total', { code: 'OK' }) === 90 ? true : undefined;
    }, 10_000, '90 OK results at the lookaside');
    await eventually(async () => ((await endpoints(stack)).every((endpoint) => endpoint.outstanding === 0) ? true : undefined), 10_000, 'no call outstanding');
  });

  it('least_request: a slow pod (GREET_DELAY_MS=300) takes far fewer than a third of the calls', async () => {
    const stack = await start([{ GREET_DELAY_MS: '300' }, {}, {}], {}, { LB_POLICY: 'least_request' });
    const perPod = await greetingsPerPod(stack.gateway.port, 150, 6);
    assert.ok((perPod['greet-0'] ?? 0) < 150 * 0.15, JSON.stringify(perPod));
    assert.ok((perPod['greet-1'] ?? 0) > 0 && (perPod['greet-2'] ?? 0) > 0, JSON.stringify(perPod));
  });

  it('ejects a pod that fails every call after exactly 5 calls, and no request fails', async () => {
    const stack = await start([{}, {}, { GREET_FAIL_RATE: '1' }], {}, { LB_POLICY: 'round_robin' });
    const bad = stack.servers[2] as GreetServerHandle;
    const seen = await statuses(stack.gateway.port, 60);
    assert.deepEqual(new Set(seen), new Set([200]), 'each failure was retried on another pod');
    assert.equal(await handled(bad, 'Unavailable'), 5);
    assert.deepEqual(await endpointOf(stack, bad).then(({ ejected, ejections }) => ({ ejected, ejections })), { ejected: true, ejections: 1 });
    const page = await scrape(stack.lookaside.metricsPort);
    assert.equal(metricValue(page, 'lookaside_outlier_ejections_total', { namespace: 'default', service: 'greetserver' }), 1);
    assert.equal(metricValue(page, 'lookaside_ejected_endpoints', { namespace: 'default', service: 'greetserver' }), 1);
  });

  it('brings an ejected pod back when its time is up, and ejects it again at its first failure, for twice as long', async () => {
    const stack = await start([{}, {}, { GREET_FAIL_RATE: '1' }], { OUTLIER_BASE_EJECTION_SECONDS: '2' }, { LB_POLICY: 'round_robin' });
    const bad = stack.servers[2] as GreetServerHandle;
    await statuses(stack.gateway.port, 30);
    assert.equal(await handled(bad, 'Unavailable'), 5);
    await eventually(async () => ((await endpointOf(stack, bad)).ejected ? undefined : true), 15_000, 'the pod back in rotation');
    assert.deepEqual(new Set(await statuses(stack.gateway.port, 6)), new Set([200]));
    assert.equal(await handled(bad, 'Unavailable'), 6, 'one call on its return, and out again');
    const view = await endpointOf(stack, bad);
    assert.deepEqual({ ejected: view.ejected, ejections: view.ejections }, { ejected: true, ejections: 2 });
    const ejections = stack.lookaside.process.logs.filter((line) => line.msg === 'endpoint ejected').map((line) => [line['reason'], line['ejectedForMs']]);
    assert.deepEqual(ejections, [
      ['consecutive-failures', 2_000],
      ['failed-on-return', 4_000],
    ]);
  });

  it('ejects both of two dead pods (never all three) and answers every request once they are out', async () => {
    const stack = await start([{}, {}, {}], {}, { LB_POLICY: 'round_robin' });
    assert.deepEqual(new Set(await statuses(stack.gateway.port, 6)), new Set([200]), 'all up, channels open');
    for (const dead of stack.servers.slice(1)) {
      dead.process.child.kill('SIGKILL');
      await dead.process.waitForExit();
    }
    const seen = await statuses(stack.gateway.port, 40);
    // Each dead pod takes 5 calls before it is ejected; a request fails only when its retry hit the other dead pod too.
    assert.ok(seen.filter((status) => status !== 200).length <= 5, seen.join(' '));
    assert.deepEqual(new Set(seen.slice(20)), new Set([200]), seen.join(' '));
    const page = await scrape(stack.lookaside.metricsPort);
    assert.equal(metricValue(page, 'lookaside_call_results_total', { code: 'Unavailable' }), 10);
    assert.equal(metricValue(page, 'lookaside_ejected_endpoints', { namespace: 'default', service: 'greetserver' }), 2);
    assert.deepEqual((await endpoints(stack)).map((endpoint) => [endpoint.pod_name, endpoint.ejected]).sort(), [
      ['greet-0', false],
      ['greet-1', true],
      ['greet-2', true],
    ]);
  });

  it('ejects a frozen pod (SIGSTOP) while its calls are still open, long before they time out, and takes it back after it thaws', async () => {
    const stack = await start([{}, {}, {}], { OUTLIER_BASE_EJECTION_SECONDS: '3' }, { LB_POLICY: 'round_robin', GREET_TIMEOUT_MS: '20000' });
    const frozen = stack.servers[0] as GreetServerHandle;
    assert.deepEqual(new Set(await statuses(stack.gateway.port, 6)), new Set([200]));
    frozen.process.child.kill('SIGSTOP');
    let ejected = false;
    const load = Array.from({ length: 4 }, async () => {
      while (!ejected) await postGreet(stack.gateway.port);
    });
    try {
      await eventually(async () => ((await endpointOf(stack, frozen)).ejected ? true : undefined), 15_000, 'the frozen pod ejected');
      ejected = true;
      const ejections = stack.lookaside.process.logs.filter((line) => line.msg === 'endpoint ejected').map((line) => line['reason']);
      assert.deepEqual(ejections, ['stalled']);
      const page = await scrape(stack.lookaside.metricsPort);
      assert.equal(metricValue(page, 'lookaside_call_results_total', { code: 'DeadlineExceeded' }), 0, 'no call to it has timed out yet');
      assert.deepEqual(new Set(await statuses(stack.gateway.port, 30)), new Set([200]), 'no call goes to the frozen pod');
    } finally {
      ejected = true;
      frozen.process.child.kill('SIGCONT');
    }
    await Promise.all(load);
    const answeredBefore = await handled(frozen, 'OK');
    await eventually(
      async () => {
        await statuses(stack.gateway.port, 3);
        return (await handled(frozen, 'OK')) > answeredBefore ? true : undefined;
      },
      30_000,
      'calls reaching the thawed pod again',
    );
  });

  it('weighted_round_robin: a pod burning CPU on every call gets under 20% of the calls once the weights are in', async () => {
    const stack = await start(
      [{ GREET_CPU_MS: '20' }, {}, {}],
      { WRR_BLACKOUT_SECONDS: '1', ORCA_REPORT_INTERVAL_MS: '200' },
      { LB_POLICY: 'weighted_round_robin' },
    );
    // Traffic until every pod reports a weight (qps above 0, past the blackout).
    await eventually(
      async () => {
        await greetingsPerPod(stack.gateway.port, 20, 4);
        return (await endpoints(stack)).every((endpoint) => endpoint.weight !== null) ? true : undefined;
      },
      30_000,
      'a weight for every pod',
    );
    const perPod = await greetingsPerPod(stack.gateway.port, 300, 4);
    assert.ok((perPod['greet-0'] ?? 0) < 300 * 0.2, JSON.stringify(perPod));
    const page = await scrape(stack.lookaside.metricsPort);
    assert.equal(metricValue(page, 'lookaside_orca_streams'), 3);
  });

  it('hedges a Greet a pod has not answered within GREET_HEDGE_DELAY_MS: 200 from another pod, and one DEADLINE_EXCEEDED report per hedge (ejection off: exact counts)', async () => {
    const noEjection = { OUTLIER_CONSECUTIVE_FAILURES: '0', OUTLIER_FAILURE_PERCENTAGE: '0', OUTLIER_STALLED_CALLS_MS: '0' };
    const stack = await start([{ GREET_DELAY_MS: '3000' }, {}, {}], noEjection, HEDGING_GATEWAY);
    const seen = await answeredBy(stack.gateway.port, 12);
    assert.ok(seen.every((pod) => pod === 'greet-1' || pod === 'greet-2'), `every request 200 from a pod that answers in time: ${seen.join(' ')}`);
    const gatewayPage = await scrape(stack.gateway.port);
    const hedges = metricValue(gatewayPage, 'greet_gateway_hedges_total');
    // Round robin hands greet-0 one request in three, and its hedge goes to the next pod.
    assert.ok(hedges >= 3, `hedges: ${hedges}`);
    assert.equal(metricValue(gatewayPage, 'greet_gateway_retries_total'), 0);
    await eventually(async () => ((await reportedAtLookaside(stack, 'OK')) === 12 ? true : undefined), 10_000, '12 OK results at the lookaside');
    await eventually(
      async () => ((await reportedAtLookaside(stack, 'DeadlineExceeded')) === hedges ? true : undefined),
      10_000,
      `${hedges} DEADLINE_EXCEEDED results at the lookaside, one per hedged call`,
    );
    const hung = await endpointOf(stack, stack.servers[0] as GreetServerHandle);
    assert.deepEqual({ failures: hung.failures, outstanding: hung.outstanding }, { failures: hedges, outstanding: 0 });
  });

  it('with the default ejection, a pod hung past the hedge delay is ejected after exactly 5 hedged calls, and no request fails', async () => {
    const stack = await start([{ GREET_DELAY_MS: '3000' }, {}, {}], {}, HEDGING_GATEWAY);
    const seen = await answeredBy(stack.gateway.port, 30);
    assert.ok(seen.every((pod) => pod === 'greet-1' || pod === 'greet-2'), seen.join(' '));
    await eventually(async () => ((await reportedAtLookaside(stack, 'DeadlineExceeded')) === 5 ? true : undefined), 10_000, '5 DEADLINE_EXCEEDED results');
    assert.equal(metricValue(await scrape(stack.gateway.port), 'greet_gateway_hedges_total'), 5);
    const ejections = stack.lookaside.process.logs.filter((line) => line.msg === 'endpoint ejected').map((line) => [line['address'], line['reason']]);
    assert.deepEqual(ejections, [[stack.servers[0]?.address, 'consecutive-failures']]);
  });
});
