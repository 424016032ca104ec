import assert from 'node:assert/strict';

import type { TypeReport, XdsReport } from '../../src/lookaside/xds/ads-report.js';
import { bufCurl, bufCurlBidi, bufListMethods } from '../support/buf-curl.js';
import {
  EndpointsFile,
  Processes,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
  type ListeningProcess,
} from '../support/greet-stack.js';
import { ackedAssignment as ackedBy, debugXds, xdsBootstrap, XdsGreetClient, type CallCounts } from '../support/xds-greet-client.js';

const ADS_METHOD = 'envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const NODE_ID = 'e2e-xds-client';

function ackedAssignment(lookaside: ListeningProcess, previous: string | null): Promise<string> {
  return ackedBy(lookaside.metricsPort, NODE_ID, previous);
}

function only(counts: CallCounts): Record<string, number> {
  assert.deepEqual(counts.errors, {}, 'no call failed');
  return counts.pods;
}

describe('xDS: a stock grpc-js-xds client balances per call from the lookaside (real processes)', function () {
  this.timeout(120_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile;
  let lookaside: ListeningProcess;
  let client: XdsGreetClient;
  let assignment: string | null = null;

  before(async function () {
    this.timeout(90_000);
    servers.push(...(await Promise.all(['greet-0', 'greet-1', 'greet-2'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers);
    lookaside = await startLookaside(processes, file);
    // The port of one server: the other two share its (unnamed) port in the file, as pods share a target port.
    const target = `xds:///greetserver.default.svc.cluster.local:${servers[0]?.port}`;
    client = await XdsGreetClient.start(target, xdsBootstrap(`127.0.0.1:${lookaside.port}`, NODE_ID));
  });

  after(async () => {
    client?.stop();
    await processes.stopAll();
    await file?.remove();
  });

  it('splits 300 calls exactly 100/100/100 over three pods once connected (one locality: grpc-js round_robin rotates)', async () => {
    await client.settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(only(await client.calls(300)), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
    assignment = await ackedAssignment(lookaside, null);
  });

  it('sends no call to an endpoint removed from the file once the push is in, and sends to it again once it is back', async () => {
    await file.write('greetserver', servers.slice(0, 2));
    assignment = await ackedAssignment(lookaside, assignment);
    await client.settledOn(['greet-0', 'greet-1']);
    assert.deepEqual(only(await client.calls(300)), { 'greet-0': 150, 'greet-1': 150 });

    await file.write('greetserver', servers);
    assignment = await ackedAssignment(lookaside, assignment);
    await client.settledOn(['greet-0', 'greet-1', 'greet-2']);
    assert.deepEqual(only(await client.calls(300)), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });
  });

  it('keeps calling its last endpoints while the lookaside is down, and subscribes again when it is back', async () => {
    const port = lookaside.port;
    lookaside.process.child.kill('SIGKILL');
    await lookaside.process.waitForExit();
    assert.deepEqual(only(await client.calls(300)), { 'greet-0': 100, 'greet-1': 100, 'greet-2': 100 });

    lookaside = await startLookaside(processes, file, port);
    // grpc-js retries its ADS stream with backoff; the new lookaside then pushes everything again.
    assignment = await ackedAssignment(lookaside, null);
    await file.write('greetserver', [servers[0] as GreetServerHandle]);
    assignment = await ackedAssignment(lookaside, assignment);
    await client.settledOn(['greet-0']);
    assert.deepEqual(only(await client.calls(30)), { 'greet-0': 30 });
    await file.write('greetserver', servers);
    assignment = await ackedAssignment(lookaside, assignment);
    await client.settledOn(['greet-0', 'greet-1', 'greet-2']);
  });

  it('shows the client on /debug/xds: node, peer, subscriptions of every type, versions', async () => {
    const report = await debugXds(lookaside.metricsPort);
    const stream = report.streams.find((candidate) => candidate.node?.['id'] === NODE_ID);
    assert.ok(stream !== undefined, JSON.stringify(report));
    assert.deepEqual(stream.node?.['locality'], { region: '', zone: 'test-zone', sub_zone: '' });
    assert.match(stream.peer, /^127\.0\.0\.1:\d+$/);
    assert.match(String(stream.node?.['user_agent']), /^gRPC Node Pure JS /);
    for (const type of ['listener', 'route', 'cluster', 'endpoint'] as const) {
      const state: TypeReport | undefined = stream.types[type];
      assert.equal(state?.names.length, 1, `${type}: ${JSON.stringify(state)}`);
      assert.equal(state?.names[0]?.state, 'present');
      assert.equal(state?.acked_version, state?.sent_version, `${type} ACKed`);
      assert.equal(state?.last_nack, null);
    }
    assert.deepEqual(report.services, [{ service: 'default/greetserver', state: 'watched', streams: 1 }]);
    const filtered = (await (await fetch(`http://127.0.0.1:${lookaside.metricsPort}/debug/xds?node=nobody`)).json()) as XdsReport;
    assert.deepEqual([filtered.streams_open, filtered.streams_matching, filtered.streams.length], [1, 0, 0]);
  });

  it('lists the ADS service in reflection, which decodes its resources (buf curl, as grpcurl)', async () => {
    const methods = await bufListMethods(`127.0.0.1:${lookaside.port}`);
    assert.ok(methods.includes(ADS_METHOD), methods.join('\n'));
    assert.ok(methods.includes('lookaside.v1.Lookaside/Resolve'));
    const listener = `greetserver.default:${servers[0]?.port}`;
    const answer = await bufCurlBidi(`127.0.0.1:${lookaside.port}`, ADS_METHOD, [
      { typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener', resourceNames: [listener] },
    ]);
    assert.equal(answer.exitCode, 0, answer.stderr);
    const resources = answer.messages[0]?.['resources'] as Array<Record<string, unknown>> | undefined;
    assert.equal(resources?.[0]?.['@type'], 'type.googleapis.com/envoy.config.listener.v3.Listener');
    assert.equal(resources?.[0]?.['name'], listener);
    const resolved = await bufCurl(`127.0.0.1:${lookaside.port}`, 'lookaside.v1.Lookaside/Resolve', { service: 'greetserver' });
    assert.equal(resolved.exitCode, 0, resolved.stderr);
  });

  it('loads the xDS protos for the first ADS stream only: not at start-up, nor for Resolve or reflection', async () => {
    const fresh = await startLookaside(processes, file, 0);
    const loaded = (): number => fresh.process.logs.filter((line) => line.msg === 'xDS protos loaded (first ADS stream)').length;
    const resolved = await bufCurl(`127.0.0.1:${fresh.port}`, 'lookaside.v1.Lookaside/Resolve', { service: 'greetserver' });
    assert.equal(resolved.exitCode, 0, resolved.stderr);
    assert.ok((await bufListMethods(`127.0.0.1:${fresh.port}`)).includes(ADS_METHOD), 'reflection lists ADS from the descriptors read in a thread');
    assert.equal(loaded(), 0, 'not loaded before an ADS stream');

    const listener = `greetserver.default:${servers[0]?.port}`;
    const answer = await bufCurlBidi(`127.0.0.1:${fresh.port}`, ADS_METHOD, [
      { typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener', resourceNames: [listener] },
    ]);
    assert.equal(answer.exitCode, 0, answer.stderr);
    assert.equal((answer.messages[0]?.['resources'] as Array<Record<string, unknown>> | undefined)?.[0]?.['name'], listener);
    assert.equal(loaded(), 1, 'loaded once, by the first ADS stream');
    await fresh.process.stop();
  });

  it('serves no xDS with XDS=off: no ADS method, no /debug/xds', async () => {
    const off = await startLookaside(processes, file, 0, { XDS: 'off' });
    const methods = await bufListMethods(`127.0.0.1:${off.port}`);
    assert.ok(!methods.some((method) => method.startsWith('envoy.')), methods.join('\n'));
    const page = await fetch(`http://127.0.0.1:${off.metricsPort}/debug/xds`);
    assert.equal(page.status, 404);
    await off.process.stop();
  });
});
