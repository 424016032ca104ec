import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
import { eventually, ServiceProcess } from '../../support/process.js';

const NODE_ID = 'greetclient-7c9d8-xds01';

describe('gateway BALANCING=xds: grpc-js-xds over the lookaside (3 greet servers + lookaside + gateway, real processes)', function () {
  this.timeout(90_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile;
  let lookaside: ListeningProcess;
  let gateway: ListeningProcess;

  before(async function () {
    this.timeout(90_000);
    servers.push(...(await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers);
    lookaside = await startLookaside(processes, file);
    // No bootstrap given: the gateway makes one from LB_ADDR, its node named after POD_NAME.
    gateway = await startGateway(processes, {
      BALANCING: 'xds',
      LB_ADDR: `127.0.0.1:${lookaside.port}`,
      GRPC_SVC: 'greetserver',
      GRPC_SERVER_PORT: String(servers[0]?.port),
      POD_NAME: NODE_ID,
    });
  });

  after(async () => {
    await processes.stopAll();
    await file?.remove();
  });

  /** Sends requests in small batches until one batch reaches exactly `pods` (grpc-js uses an endpoint once connected). */
  async function settledOn(pods: readonly string[]): Promise<void> {
    await eventually(
      async () => {
        const seen = Object.keys(await greetingsPerPod(gateway.port, 3 * pods.length));
        return seen.length === pods.length && seen.every((pod, i) => pod === pods[i]) ? true : undefined;
      },
      20_000,
      `requests reaching exactly ${pods.join(', ')}`,
    );
  }

  it('splits 300 requests exactly 100/100/100 over the three pods', async () => {
    await settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(await greetingsPerPod(gateway.port, 300, 4), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('follows the endpoints file: a removed pod takes no more requests, and takes them again once back', async () => {
    await file.write('greetserver', servers.slice(0, 2));
    await settledOn(['greet-0', 'greet-1']);
    assert.deepEqual(await greetingsPerPod(gateway.port, 300, 4), { 'greet-0': 150, 'greet-1': 150 });

    await file.write('greetserver', servers);
    await settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(await greetingsPerPod(gateway.port, 300, 4), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('is the xDS client the lookaside sees: its node id is POD_NAME, with a locality, every resource ACKed', async () => {
    const report = (await (await fetch(`http://127.0.0.1:${lookaside.metricsPort}/debug/xds?node=${NODE_ID}`)).json()) as {
      streams: Array<{ node?: Record<string, unknown>; types: Record<string, { acked_version: string | null; sent_version: string | null }> }>;
    };
    const stream = report.streams[0];
    assert.equal(stream?.node?.['id'], NODE_ID);
    assert.ok(stream.node?.['locality'] !== undefined);
    for (const type of ['listener', 'route', 'cluster', 'endpoint']) {
      assert.ok(stream.types[type]?.acked_version !== null, `${type} not ACKed`);
      assert.equal(stream.types[type]?.acked_version, stream.types[type]?.sent_version, `${type} not ACKed`);
    }
  });

  it('says on /readyz that it balances by xDS, from which control plane, and that its channel is ready', async () => {
    // Ready once the channel has had endpoints and connected, with or without a request.
    const answer = await eventually(async () => {
      const readyz = await httpCall(gateway.port, 'GET', '/readyz');
      return readyz.status === 200 ? readyz : undefined;
    }, 20_000, '/readyz 200');
    assert.equal(answer.json?.['mode'], 'xds');
    assert.equal(answer.json?.['target'], `xds:///greetserver.default.svc.cluster.local:${servers[0]?.port}`);
    assert.equal(answer.json?.['channel'], 'READY');
    assert.equal(answer.json?.['xds_server'], `127.0.0.1:${lookaside.port}`);
    assert.equal(answer.json?.['node_id'], NODE_ID);
    assert.equal(answer.json?.['bootstrap'], 'generated');
  });

  it('counts backend calls per pod address in its metrics', async () => {
    const before = await scrape(gateway.port);
    assert.equal((await postGreet(gateway.port)).status, 200);
    const after = await scrape(gateway.port);
    const total = (page: string): number => servers.reduce((sum, server) => sum + metricValue(page, 'greet_gateway_backend_calls_total', { address: server.address, result: 'OK' }), 0);
    assert.equal(total(after) - total(before), 1);
  });

  it('is not ready, and answers 503 rather than 504, for a Service the lookaside does not have (no Listener is sent)', async () => {
    const missing = await startGateway(processes, { BALANCING: 'xds', LB_ADDR: `127.0.0.1:${lookaside.port}`, GRPC_SVC: 'nosuchservice', POD_NAME: 'gw-missing', GREET_TIMEOUT_MS: '300' });
    const readyz = await httpCall(missing.port, 'GET', '/readyz');
    assert.equal(readyz.status, 503, readyz.text);
    assert.match(readyz.text, /no endpoints from the xDS server yet|TRANSIENT_FAILURE/);
    const answer = await postGreet(missing.port);
    assert.equal(answer.status, 503, answer.text);
    assert.match(answer.text, /no greet server could take the call/);
    await missing.process.stop();
  });

  describe('refuses a bad xDS configuration at start-up, exiting 1 with a message naming the variable', function () {
    let directory: string;

    before(async () => {
      directory = await mkdtemp(join(tmpdir(), 'gateway-xds-'));
    });

    after(async () => {
      await rm(directory, { recursive: true, force: true });
    });

    async function failsToStart(env: Record<string, string>): Promise<string> {
      const process = processes.add(ServiceProcess.start('src/greet/gateway/main.js', { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', BALANCING: 'xds', ...env }));
      assert.equal(await process.waitForExit(), 1, process.stderr);
      assert.ok(!process.logs.some((line) => line.msg === 'listening'), 'never listened');
      return process.stderr;
    }

    it('no lookaside and no bootstrap', async () => {
      assert.match(await failsToStart({}), /LB_ADDR: BALANCING=xds needs the lookaside: .*GRPC_XDS_BOOTSTRAP/);
    });

    it('a GRPC_TARGET that is not xds:', async () => {
      assert.match(await failsToStart({ LB_ADDR: '127.0.0.1:1', GRPC_TARGET: 'dns:///greetserver:50051' }), /GRPC_TARGET: must be an xds: target/);
    });

    it('a bootstrap file that is missing, or names no control plane', async () => {
      assert.match(await failsToStart({ GRPC_XDS_BOOTSTRAP: join(directory, 'none.json') }), /GRPC_XDS_BOOTSTRAP: cannot read the bootstrap file/);
      const path = join(directory, 'bootstrap.json');
      await writeFile(path, JSON.stringify({ node: { id: 'x', locality: {} } }));
      assert.match(await failsToStart({ GRPC_XDS_BOOTSTRAP: path }), /GRPC_XDS_BOOTSTRAP: the xDS bootstrap names no control plane/);
    });

    it('an inline bootstrap whose node has no locality', async () => {
      const bootstrap = { xds_servers: [{ server_uri: '127.0.0.1:1', channel_creds: [{ type: 'insecure' }] }], node: { id: 'x' } };
      assert.match(await failsToStart({ GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) }), /GRPC_XDS_BOOTSTRAP_CONFIG: the xDS bootstrap needs "node".*locality/);
    });
  });
});
