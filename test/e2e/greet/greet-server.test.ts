import assert from 'node:assert/strict';

import { bufCurl, bufListMethods } from '../../support/buf-curl.js';
import { Processes, startGreetServer, type GreetServerHandle } from '../../support/greet-stack.js';
import { metricValue, scrape } from '../../support/http.js';
import { eventually, ServiceProcess } from '../../support/process.js';

const GREET = 'greet.v1.GreetService/Greet';
const HEALTH = 'grpc.health.v1.Health/Check';

describe('greet server (built process, buf curl over reflection)', function () {
  this.timeout(60_000);
  const processes = new Processes();
  let server: GreetServerHandle | undefined;

  afterEach(async () => {
    await processes.stopAll();
    server = undefined;
  });

  it('answers with the exact greeting, naming its pod and IP', async () => {
    server = await startGreetServer(processes, 'greet-test-0');
    const result = await bufCurl(`127.0.0.1:${server.port}`, GREET, { first_name: 'Ada', last_name: 'Lovelace' });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(result.body, {
      result: 'Hello, Ada Lovelace from pod: name(greet-test-0), ip(127.0.0.1).',
      podName: 'greet-test-0',
      podIp: '127.0.0.1',
    });
  });

  it('lists GreetService and the health service through reflection', async () => {
    server = await startGreetServer(processes, 'greet-test-0');
    const methods = await bufListMethods(`127.0.0.1:${server.port}`);
    assert.ok(methods.includes('greet.v1.GreetService/Greet'), methods.join(', '));
    assert.ok(methods.includes('grpc.health.v1.Health/Check'), methods.join(', '));
  });

  it('refuses a missing or over-long name, or one with control characters, with INVALID_ARGUMENT', async () => {
    server = await startGreetServer(processes, 'greet-test-0');
    // proto3 cannot tell a missing string from an empty one.
    const missing = await bufCurl(`127.0.0.1:${server.port}`, GREET, { last_name: 'Lovelace' });
    assert.equal(missing.body?.['code'], 'invalid_argument', missing.stderr);
    assert.match(String(missing.body?.['message']), /first_name must not be empty/);
    const long = await bufCurl(`127.0.0.1:${server.port}`, GREET, { first_name: 'a'.repeat(257), last_name: 'L' });
    assert.equal(long.body?.['code'], 'invalid_argument', long.stderr);
    const escape = await bufCurl(`127.0.0.1:${server.port}`, GREET, { first_name: 'Ada\u001b[2J', last_name: 'L' });
    assert.equal(escape.body?.['code'], 'invalid_argument', escape.stderr);
    assert.match(String(escape.body?.['message']), /first_name must not contain control characters.*U\+001B/);
  });

  it('counts calls with go-grpc-prometheus names', async () => {
    server = await startGreetServer(processes, 'greet-test-0');
    await bufCurl(`127.0.0.1:${server.port}`, GREET, { first_name: 'Ada', last_name: 'Lovelace' });
    const page = await scrape(server.metricsPort);
    const labels = { grpc_service: 'greet.v1.GreetService', grpc_method: 'Greet', grpc_type: 'unary' };
    assert.equal(metricValue(page, 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' }), 1);
    assert.equal(metricValue(page, 'grpc_server_started_total', labels), 1);
  });

  it('on SIGTERM reports NOT_SERVING, keeps answering through the drain window, finishes in-flight calls, exits 0', async () => {
    server = await startGreetServer(processes, 'greet-test-0', { SHUTDOWN_DRAIN_MS: '1500', GREET_DELAY_MS: '3000' });
    const target = `127.0.0.1:${server.port}`;
    const metricsPort = server.metricsPort;
    assert.equal((await bufCurl(target, HEALTH, {})).body?.['status'], 'SERVING');

    // A slow call is under way when SIGTERM arrives, and lasts beyond the drain window.
    const slow = bufCurl(target, GREET, { first_name: 'Ada', last_name: 'Lovelace' });
    await eventually(async () => (metricValue(await scrape(metricsPort), 'grpc_server_started_total', { grpc_method: 'Greet' }) === 1 ? true : undefined), 10_000, 'the slow call to start');
    server.process.child.kill('SIGTERM');
    await server.process.waitForLog((line) => String(line.msg).startsWith('draining'));

    const health = await bufCurl(target, HEALTH, {});
    assert.equal(health.exitCode, 0, health.stderr);
    assert.equal(health.body?.['status'], 'NOT_SERVING');

    const answered = await slow;
    assert.equal(answered.exitCode, 0, answered.stderr);
    assert.match(String(answered.body?.['result']), /^Hello, Ada Lovelace/);
    assert.equal(await server.process.waitForExit(10_000), 0);
    const stopped = server.process.logs.find((line) => line.msg === 'grpc server stopped');
    assert.equal(stopped?.['result'], 'drained');
  });

  it('adds GREET_DELAY_MS to every call', async () => {
    server = await startGreetServer(processes, 'greet-test-0', { GREET_DELAY_MS: '400' });
    // buf curl's own start-up dominates a fast call; compare a slow call against the delay.
    const startedMs = Date.now();
    const result = await bufCurl(`127.0.0.1:${server.port}`, GREET, { first_name: 'Ada', last_name: 'Lovelace' });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.ok(Date.now() - startedMs >= 400);
    const page = await scrape(server.metricsPort);
    // The handling histogram puts the call in the 0.5 s bucket, not below 0.25 s.
    assert.equal(metricValue(page, 'grpc_server_handling_seconds_bucket', { grpc_method: 'Greet', le: '0.25' }), 0);
    assert.equal(metricValue(page, 'grpc_server_handling_seconds_bucket', { grpc_method: 'Greet', le: '0.5' }), 1);
  });

  it('refuses a bad setting at start-up, naming the variable', async () => {
    const process = ServiceProcess.start('src/greet/server/main.js', { GREET_DELAY_MS: 'slow' });
    assert.equal(await process.waitForExit(), 1);
    assert.match(process.stderr, /GREET_DELAY_MS: must be a whole number/);
  });

  it('defaults POD_NAME to the host name and POD_IP to an address of this machine', async () => {
    const process = processes.add(
      ServiceProcess.start('src/greet/server/main.js', { GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', METRICS_PORT: '0', SHUTDOWN_DRAIN_MS: '0' }),
    );
    const listening = await process.waitUntilListening(20_000);
    assert.notEqual(String(listening['podName']), '');
    assert.match(String(listening['podIp']), /^\d+\.\d+\.\d+\.\d+$/);
  });
});

