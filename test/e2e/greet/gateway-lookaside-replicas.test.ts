import assert from 'node:assert/strict';

import {
  EndpointsFile,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
  type ListeningProcess,
} from '../../support/greet-stack.js';
import { greetingsPerPod, httpCall, metricValue, postGreet, scrape } from '../../support/http.js';
import { GreetLoad } from '../../support/greet-load.js';
import { eventually } from '../../support/process.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

/** Requests in flight at once while a replica is killed. */
const CONCURRENCY = 8;

describe('two lookaside replicas behind one address, one killed under gateway load (real processes)', function () {
  this.timeout(120_000);
  const processes = new Processes();
  let servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let proxy: TcpProxy | undefined;
  let load: GreetLoad | undefined;

  beforeEach(async function () {
    this.timeout(90_000);
    servers = await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)));
    file = await EndpointsFile.create('greetserver', servers);
  });

  afterEach(async () => {
    await load?.stop();
    await processes.stopAll();
    await proxy?.close();
    await file?.remove();
  });

  async function resolvesServed(lookaside: ListeningProcess): Promise<number> {
    return metricValue(await scrape(lookaside.metricsPort), 'lookaside_resolve_total', { code: 'OK' });
  }

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`fails no request when the replica the gateway streams to gets ${signal}: the stream reopens through the address to the other`, async () => {
      const replicas = await Promise.all([0, 1].map(() => startLookaside(processes, file as EndpointsFile)));
      proxy = await TcpProxy.start(replicas.map((replica) => replica.port));
      const gateway = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: proxy.address, GRPC_SVC: 'greetserver' });
      await eventually(async () => ((await postGreet(gateway.port)).status === 200 ? true : undefined), 10_000, 'a first greeting');

      const running = new GreetLoad(gateway.port, CONCURRENCY);
      load = running;
      await eventually(() => (running.total >= 200 ? true : undefined), 30_000, '200 greetings before the kill');
      const open = (proxy as TcpProxy).connections.filter((connection) => connection.closedBy === undefined);
      assert.equal(open.length, 1, 'the gateway holds one connection to the lookaside');
      const victim = replicas.find((replica) => replica.port === open[0]?.targetPort) as ListeningProcess;
      const survivor = replicas.find((replica) => replica !== victim) as ListeningProcess;
      const servedBefore = await resolvesServed(survivor);
      const greetedBefore = running.total;

      victim.process.child.kill(signal);
      // Until the gateway resolves through the survivor: its stream moved there, and it is not degraded.
      await eventually(
        async () => {
          const moved = (await resolvesServed(survivor)) - servedBefore >= 200;
          const ready = await httpCall(gateway.port, 'GET', '/readyz');
          return moved && ready.json?.['degraded'] === false ? true : undefined;
        },
        60_000,
        'the gateway to resolve through the surviving replica',
      );
      await eventually(() => (running.total >= greetedBefore + 400 ? true : undefined), 30_000, '400 greetings after the kill');
      await running.stop();

      assert.deepEqual(running.failures, []);
      assert.deepEqual([...running.statuses.keys()], [200]);
      const reopened = (proxy as TcpProxy).connections.filter((connection) => connection.closedBy === undefined);
      assert.deepEqual(reopened.map((connection) => connection.targetPort), [survivor.port], 'one connection, to the survivor');
      assert.equal(await victim.process.waitForExit(), signal === 'SIGKILL' ? null : 0);
      // The survivor's own round robin: exact, whatever the other replica had handed out.
      assert.deepEqual(await greetingsPerPod(gateway.port, 30), { 'greet-0': 10, 'greet-1': 10, 'greet-2': 10 });
    });
  }
});
