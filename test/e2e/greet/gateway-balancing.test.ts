import assert from 'node:assert/strict';

import {
  EndpointsFile,
  lookasideGatewayEnv,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  staticTarget,
  type GreetServerHandle,
  type ListeningProcess,
} from '../../support/greet-stack.js';
import { greetingsPerPod, postGreet } from '../../support/http.js';

describe('gateway balancing modes (3 greet servers + lookaside + gateways, real processes)', function () {
  this.timeout(60_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess | undefined;

  before(async function () {
    this.timeout(90_000);
    servers.push(...(await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers);
    lookaside = await startLookaside(processes, file);
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
  });

  function gateway(env: Record<string, string>): Promise<ListeningProcess> {
    return startGateway(processes, env);
  }

  it('lookaside mode, round_robin policy: 300 requests give exactly 100 to each pod', async () => {
    const { port } = await gateway(lookasideGatewayEnv(lookaside as ListeningProcess, { LB_POLICY: 'round_robin' }));
    const perPod = await greetingsPerPod(port, 300, 4);
    assert.deepEqual(perPod, { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('answers with the greeting, the pod, and the address that served it', async () => {
    const { port } = await gateway(lookasideGatewayEnv(lookaside as ListeningProcess));
    const answer = await postGreet(port);
    assert.equal(answer.status, 200);
    const pod = servers.find((server) => server.podName === answer.json?.['pod_name']);
    assert.ok(pod !== undefined, answer.text);
    assert.deepEqual(answer.json, {
      result: `Hello, Ada Lovelace from pod: name(${pod.podName}), ip(127.0.0.1).`,
      pod_name: pod.podName,
      pod_ip: '127.0.0.1',
      address: pod.address,
    });
  });

  it('lookaside mode, random policy: every pod is used and none takes more than half', async () => {
    const { port } = await gateway(lookasideGatewayEnv(lookaside as ListeningProcess, { LB_POLICY: 'random' }));
    const perPod = await greetingsPerPod(port, 300, 4);
    assert.equal(Object.keys(perPod).length, 3, JSON.stringify(perPod));
    for (const [pod, count] of Object.entries(perPod)) assert.ok(count <= 150, `${pod} took ${count} of 300`);
  });

  it('round_robin mode (grpc-js client-side): every pod is used and none takes more than half', async () => {
    const { port } = await gateway({ BALANCING: 'round_robin', GRPC_TARGET: staticTarget(servers) });
    const perPod = await greetingsPerPod(port, 300, 4);
    assert.equal(Object.keys(perPod).length, 3, JSON.stringify(perPod));
    for (const [pod, count] of Object.entries(perPod)) assert.ok(count <= 150, `${pod} took ${count} of 300`);
  });

  it('none mode: every request sticks to one pod (the problem being solved)', async () => {
    const { port } = await gateway({ BALANCING: 'none', GRPC_TARGET: staticTarget(servers) });
    const perPod = await greetingsPerPod(port, 300, 4);
    assert.equal(Object.keys(perPod).length, 1, JSON.stringify(perPod));
    assert.equal(Object.values(perPod)[0], 300);
  });

  it('seed API: an IP-only answer is dialled on GRPC_SERVER_PORT', async () => {
    // The seed API has no ports, so only the pod on GRPC_SERVER_PORT can be reached this way.
    const only = servers[1] as GreetServerHandle;
    const seedFile = await EndpointsFile.create('greetserver', [only]);
    const seedLookaside = await startLookaside(processes, seedFile);
    try {
      const { port } = await gateway(
        lookasideGatewayEnv(seedLookaside, { LB_API: 'seed', GRPC_SERVER_PORT: String(only.port) }),
      );
      const answer = await postGreet(port);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json?.['pod_name'], only.podName);
      assert.equal(answer.json?.['address'], `127.0.0.1:${only.port}`);
    } finally {
      await seedLookaside.process.stop();
      await seedFile.remove();
    }
  });
});
