import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { bufCurl } from '../support/buf-curl.js';
import { SecretVolume, TestCertificates, type IssuedFiles } from '../support/certificates.js';
import {
  EndpointsFile,
  Processes,
  startGateway,
  startGreetServer,
  startLookaside,
  type GreetServerHandle,
} from '../support/greet-stack.js';
import { GreetLoad } from '../support/greet-load.js';
import { httpCall, postGreet } from '../support/http.js';
import { REPO_ROOT, ServiceProcess, eventually } from '../support/process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const RESOLVE = 'lookaside.v1.Lookaside/Resolve';

describe('TLS and mTLS between the gateway, buf curl and the lookaside (real processes)', function () {
  this.timeout(120_000);
  const processes = new Processes();
  let certificates: TestCertificates;
  let serverCa: IssuedFiles;
  let clientCa: IssuedFiles;
  let server: IssuedFiles;
  let gatewayIdentity: IssuedFiles;
  let operator: IssuedFiles;
  let servers: GreetServerHandle[] = [];
  let file: EndpointsFile;

  before(async function () {
    this.timeout(90_000);
    certificates = await TestCertificates.create();
    [serverCa, clientCa] = (await Promise.all([certificates.ca('server-ca'), certificates.ca('client-ca')])) as [IssuedFiles, IssuedFiles];
    server = await certificates.issue(serverCa, 'lookaside', 'server');
    gatewayIdentity = await certificates.issue(clientCa, 'gateway', 'client');
    operator = await certificates.issue(clientCa, 'operator', 'client');
    servers = await Promise.all(['greet-0', 'greet-1'].map((name) => startGreetServer(processes, name)));
    file = await EndpointsFile.create('greetserver', servers);
  });

  after(async () => {
    await processes.stopAll();
    await file.remove();
    await certificates.remove();
  });

  function mtlsEnv(files: IssuedFiles = server): Record<string, string> {
    return { TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile, TLS_CLIENT_CA_FILE: clientCa.certFile };
  }

  function gatewayTlsEnv(caFile = serverCa.certFile): Record<string, string> {
    return { LB_TLS_CA_FILE: caFile, LB_TLS_CERT_FILE: gatewayIdentity.certFile, LB_TLS_KEY_FILE: gatewayIdentity.keyFile };
  }

  it('answers buf curl over mTLS (the README command), and refuses it without a client certificate', async () => {
    const lookaside = await startLookaside(processes, file, 0, mtlsEnv());
    // What the kubelet probes instead of gRPC health, which it cannot ask over TLS.
    const health = await httpCall(lookaside.metricsPort, 'GET', '/healthz');
    assert.deepEqual([health.status, health.json], [200, { status: 'SERVING' }]);
    const url = `https://127.0.0.1:${lookaside.port}`;
    const identity = ['--cacert', serverCa.certFile, '--cert', operator.certFile, '--key', operator.keyFile];
    const answered = await bufCurl(url, RESOLVE, { service: 'greetserver', namespace: 'default' }, identity);
    assert.equal(answered.exitCode, 0, answered.stderr);
    assert.match(String(answered.body?.['address']), /^127\.0\.0\.1:\d+$/);

    // With the schema from the protos rather than from reflection (which the refused handshake
    // also refuses), buf says why the call failed.
    const schema = ['--schema', REPO_ROOT];
    const anonymous = await bufCurl(url, RESOLVE, { service: 'greetserver' }, [...schema, '--cacert', serverCa.certFile]);
    assert.notEqual(anonymous.exitCode, 0);
    // TLS 1.3 checks the client's certificate after the client has finished the handshake: its
    // request may already be on the way when the alert comes, and then it sees only the connection
    // break (`broken pipe`, `http2: client conn could not be established`). The lookaside's log says why.
    assert.ok(['unavailable', 'canceled'].includes(String(anonymous.body?.['code'])), anonymous.stderr);
    const refused = await lookaside.process.waitForLog((line) => line.msg === 'TLS handshake failed');
    assert.match(String(refused['err']), /peer did not return a certificate/);
    const untrusted = await bufCurl(url, RESOLVE, { service: 'greetserver' }, [...schema, ...identity.slice(2)]);
    assert.notEqual(untrusted.exitCode, 0);
    assert.deepEqual(untrusted.body, { code: 'unavailable', message: 'x509: certificate signed by unknown authority' });
  });

  it('lets the gateway balance through a lookaside that requires mTLS', async () => {
    const lookaside = await startLookaside(processes, file, 0, mtlsEnv());
    const gateway = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: `127.0.0.1:${lookaside.port}`, ...gatewayTlsEnv() });
    const pods = new Set<unknown>();
    for (let i = 0; i < 6; i += 1) {
      const answer = await postGreet(gateway.port);
      assert.equal(answer.status, 200, answer.text);
      pods.add(answer.json?.['pod_name']);
    }
    assert.deepEqual(pods, new Set(['greet-0', 'greet-1']));
  });

  it('rotates its certificate (a Secret volume update, to a new CA) under gateway load: no failed request, no dropped connection, new handshakes get the new one', async () => {
    const newCa = await certificates.ca('server-ca-2');
    const rotated = await certificates.issue(newCa, 'lookaside-2', 'server');
    const volume = await SecretVolume.create(join(certificates.directory, 'lookaside-tls'), { 'tls.crt': server.certFile, 'tls.key': server.keyFile });
    // The gateway trusts both CAs while the CA rotates, as a CA bundle in a Secret would.
    const bundle = join(certificates.directory, 'trust-bundle.crt');
    await writeFile(bundle, [await readFile(serverCa.certFile, 'utf8'), await readFile(newCa.certFile, 'utf8')].join(''));
    const lookaside = await startLookaside(processes, file, 0, mtlsEnv({ certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key') }));
    const proxy = await TcpProxy.start(lookaside.port);
    let load: GreetLoad | undefined;
    try {
      const gateway = await startGateway(processes, { BALANCING: 'lookaside', LB_ADDR: proxy.address, ...gatewayTlsEnv(bundle) });
      const url = `https://127.0.0.1:${lookaside.port}`;
      const asOperator = (ca: string): string[] => ['--cacert', ca, '--cert', operator.certFile, '--key', operator.keyFile];
      const running = new GreetLoad(gateway.port, 1);
      load = running;
      await eventually(() => (running.total >= 50 ? true : undefined), 30_000, '50 greetings before the rotation');

      await volume.update({ 'tls.crt': rotated.certFile, 'tls.key': rotated.keyFile });
      await lookaside.process.waitForLog((line) => line.msg === 'TLS files reloaded; new connections use them', 20_000);
      const fresh = await bufCurl(url, RESOLVE, { service: 'greetserver' }, asOperator(newCa.certFile));
      assert.equal(fresh.exitCode, 0, `a new handshake trusting only the new CA: ${fresh.stderr}`);
      const stale = await bufCurl(url, RESOLVE, { service: 'greetserver' }, asOperator(serverCa.certFile));
      assert.notEqual(stale.exitCode, 0, 'a new handshake trusting only the old CA');
      const afterRotation = running.total;
      await eventually(() => (running.total >= afterRotation + 50 ? true : undefined), 30_000, '50 greetings after the rotation');
      await running.stop();

      assert.deepEqual(running.failures, []);
      assert.deepEqual([...running.statuses.keys()], [200]);
      assert.equal(proxy.accepted, 1, 'the gateway kept its one connection to the lookaside');
    } finally {
      await load?.stop();
      await proxy.close();
    }
  });

  describe('refuses bad TLS files at start-up, naming the variable', () => {
    async function failsToStart(script: string, env: Record<string, string>): Promise<string> {
      const started = processes.add(ServiceProcess.start(script, env));
      assert.equal(await started.waitForExit(20_000), 1, `exit code; stderr: ${started.stderr}`);
      return started.stderr;
    }

    it('the lookaside: a key that does not match its certificate', async () => {
      const stderr = await failsToStart('src/lookaside/main.js', {
        DISCOVERY: 'file',
        ENDPOINTS_FILE: file.path,
        LB_HOST: '127.0.0.1',
        LB_PORT: '0',
        METRICS_PORT: '0',
        ...mtlsEnv({ certFile: server.certFile, keyFile: operator.keyFile }),
      });
      assert.match(stderr, /start-up failed: TLS_KEY_FILE: the key in .*operator\.key does not match the certificate in TLS_CERT_FILE/);
    });

    it('the gateway: a CA file that does not exist', async () => {
      const stderr = await failsToStart('src/greet/gateway/main.js', {
        BALANCING: 'lookaside',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: '0',
        LB_ADDR: '127.0.0.1:1',
        ...gatewayTlsEnv(join(certificates.directory, 'missing-ca.crt')),
      });
      assert.match(stderr, /start-up failed: LB_TLS_CA_FILE: cannot read .*missing-ca\.crt: ENOENT/);
    });
  });
});
