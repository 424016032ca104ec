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
import { httpCall, metricValue, postGreet, scrape } from '../../support/http.js';
import { eventually } from '../../support/process.js';

interface Stack {
  readonly servers: GreetServerHandle[];
  readonly lookaside: ListeningProcess;
  readonly gateway: ListeningProcess;
}

/** The gateway: greet-0 hangs past the hedge delay (GREET_DELAY_MS 3 s), with a budget that would wait it out. */
const GATEWAY_ENV = { LB_POLICY: 'round_robin', GREET_TIMEOUT_MS: '5000', GREET_HEDGE_DELAY_MS: '200' };

describe('the gateway hedges a Greet a pod does not answer in time (GREET_HEDGE_DELAY_MS), through the built processes', function () {
  this.timeout(90_000);
  const processes = new Processes();
  const files: EndpointsFile[] = [];

  afterEach(async () => {
    await processes.stopAll();
    for (const file of files.splice(0)) await file.remove();
  });

  async function start(lookasideEnv: Record<string, string>): Promise<Stack> {
    const serverEnvs: Record<string, string>[] = [{ GREET_DELAY_MS: '3000' }, {}, {}];
    const servers = await Promise.all(serverEnvs.map((env, index) => startGreetServer(processes, `greet-${index}`, env)));
    const file = await EndpointsFile.create('greetserver', servers);
    files.push(file);
    const lookaside = await startLookaside(processes, file, 0, lookasideEnv);
    const gateway = await startGateway(processes, lookasideGatewayEnv(lookaside, GATEWAY_ENV));
    return { servers, lookaside, gateway };
  }

  /** Sends `count` greetings one after another; the pod that answered each (its status when not 200). */
  async function answeredBy(stack: Stack, count: number): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const answer = await postGreet(stack.gateway.port);
      seen.push(answer.status === 200 ? String(answer.json?.['pod_name']) : String(answer.status));
    }
    return seen;
  }

  async function reportedAtLookaside(stack: Stack, code: string): Promise<number> {
    return metricValue(await scrape(stack.lookaside.metricsPort), 'lookaside_call_results_total', { code });
  }

  it('answers 200 from another pod, and tells the lookaside the hung call ended DEADLINE_EXCEEDED (ejection off: exact counts)', async () => {
    const stack = await start({ OUTLIER_CONSECUTIVE_FAILURES: '0', OUTLIER_FAILURE_PERCENTAGE: '0', OUTLIER_STALLED_CALLS_MS: '0' });
    const seen = await answeredBy(stack, 12);
    assert.ok(
      seen.every((pod) => pod === 'greet-1' || pod === 'greet-2'),
      `every request answered 200 by a pod that answers in time: ${seen.join(' ')}`,
    );
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
    const answer = await httpCall(stack.lookaside.metricsPort, 'GET', '/debug/endpoints?service=greetserver');
    const slow = ((answer.json?.['endpoints'] ?? []) as { pod_name: string; failures: number; outstanding: number }[]).find((endpoint) => endpoint.pod_name === 'greet-0');
    assert.deepEqual({ failures: slow?.failures, outstanding: slow?.outstanding }, { failures: hedges, outstanding: 0 });
  });

  it('with the default ejection, the hung pod is ejected after exactly 5 hedged calls, and no request fails', async () => {
    const stack = await start({});
    const seen = await answeredBy(stack, 30);
    assert.ok(
      seen.every((pod) => pod === 'greet-1' || pod === 'greet-2'),
      seen.join(' '),
    );
    await eventually(async () => ((await reportedAtLookaside(stack, 'DeadlineExceeded')) === 5 ? true : undefined), 10_000, '5 DEADLINE_EXCEEDED results');
    assert.equal(metricValue(await scrape(stack.gateway.port), 'greet_gateway_hedges_total'), 5);
    const ejections = stack.lookaside.process.logs.filter((line) => line.msg === 'endpoint ejected').map((line) => [line['address'], line['reason']]);
    assert.deepEqual(ejections, [[stack.servers[0]?.address, 'consecutive-failures']]);
  });
});
