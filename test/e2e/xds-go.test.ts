import assert from 'node:assert/strict';
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';

import { testCacheRoot } from '../support/control-plane.js';
import { EndpointsFile, Processes, startGreetServer, startLookaside, type GreetServerHandle, type ListeningProcess } from '../support/greet-stack.js';
import { ackedAssignment, xdsBootstrap, XdsGreetClient, type CallCounts } from '../support/xds-greet-client.js';

const NODE_ID = 'e2e-xds-go-client';

/** test/xds-go-client/build.sh's output (make xds-go-client; make test builds it where Go is installed). */
function goClient(): string | undefined {
  const path = join(testCacheRoot(), 'xds-go-client', 'xds-go-client');
  try {
    accessSync(path, fsConstants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

function only(counts: CallCounts): Record<string, number> {
  assert.deepEqual(counts.errors, {}, 'no call failed');
  return counts.pods;
}

describe('xDS interop: grpc-go (google.golang.org/grpc/xds) balances per call from the lookaside (real processes)', function () {
  this.timeout(120_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  let lookaside: ListeningProcess;
  let client: XdsGreetClient | undefined;

  before(async function () {
    const binary = goClient();
    if (binary === undefined) {
      const reason = 'the Go xDS client is not built (make xds-go-client, needs Go; make test builds it when Go is installed)';
      if (process.env['CI'] === 'true') throw new Error(reason);
      console.log(`      (Go xDS interop skipped: ${reason})`);
      this.skip();
    }
    this.timeout(90_000);
    servers.push(...(await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers);
    lookaside = await startLookaside(processes, file);
    const target = `xds:///greetserver.default.svc.cluster.local:${servers[0]?.port}`;
    client = await XdsGreetClient.start(target, xdsBootstrap(`127.0.0.1:${lookaside.port}`, NODE_ID), [binary, target]);
  });

  after(async () => {
    client?.stop();
    await processes.stopAll();
    await file?.remove();
  });

  it('splits 300 calls exactly 100/100/100 over three pods', async () => {
    await (client as XdsGreetClient).settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(only(await (client as XdsGreetClient).calls(300)), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('follows an endpoint removed from the file (no call reaches it once the push is taken in), and its return', async () => {
    const before = await ackedAssignment(lookaside.metricsPort, NODE_ID, null);
    await file?.write('greetserver', servers.slice(0, 2));
    const removed = await ackedAssignment(lookaside.metricsPort, NODE_ID, before);
    await (client as XdsGreetClient).settledOn(['greet-0', 'greet-1']);
    assert.deepEqual(only(await (client as XdsGreetClient).calls(300)), { 'greet-0': 150, 'greet-1': 150 });

    await file?.write('greetserver', servers);
    await ackedAssignment(lookaside.metricsPort, NODE_ID, removed);
    await (client as XdsGreetClient).settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(only(await (client as XdsGreetClient).calls(300)), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('is a grpc-go client on /debug/xds, every type ACKed, no NACK', async () => {
    const response = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/debug/xds?node=${NODE_ID}`);
    const report = (await response.json()) as { streams: Array<{ node?: Record<string, unknown>; types: Record<string, { acked_version: string | null; sent_version: string | null; last_nack: unknown }> }> };
    const stream = report.streams[0];
    assert.match(String(stream?.node?.['user_agent']), /^gRPC Go/);
    for (const type of ['listener', 'route', 'cluster', 'endpoint']) {
      const state = stream?.types[type];
      assert.ok(state?.acked_version !== null && state?.acked_version === state?.sent_version, `${type}: ${JSON.stringify(state)}`);
      assert.equal(state?.last_nack, null, type);
    }
  });
});
