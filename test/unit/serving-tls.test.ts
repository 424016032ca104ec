import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';

import { Client, credentials, status as Status, type ServiceError } from '@grpc/grpc-js';

import { ConfigError } from '../../src/common/config.js';
import { listenWithLimits, type GrpcListener } from '../../src/common/grpc-listener.js';
import { silentLogger } from '../../src/common/logging.js';
import { ServingTls, type ServingTlsFiles } from '../../src/lookaside/serving-tls.js';
import { capturingLogger } from '../support/capture-log.js';
import { SecretVolume, TestCertificates, type IssuedFiles } from '../support/certificates.js';
import { LookasideHarness, until } from '../support/lookaside-server.js';

describe('ServingTls: TLS and mTLS on the gRPC port, reloaded from the files', function () {
  this.timeout(60_000);
  let certificates: TestCertificates;
  let serverCa: IssuedFiles;
  let clientCa: IssuedFiles;
  let otherCa: IssuedFiles;
  let server: IssuedFiles;
  let client: IssuedFiles;
  let strangerClient: IssuedFiles;
  let harness: LookasideHarness;
  let tls: ServingTls | undefined;
  let listener: GrpcListener | undefined;
  const channels: Client[] = [];

  before(async () => {
    certificates = await TestCertificates.create();
    [serverCa, clientCa, otherCa] = await Promise.all(['server-ca', 'client-ca', 'other-ca'].map((name) => certificates.ca(name))) as [IssuedFiles, IssuedFiles, IssuedFiles];
    server = await certificates.issue(serverCa, 'server', 'server');
    client = await certificates.issue(clientCa, 'client', 'client');
    strangerClient = await certificates.issue(otherCa, 'stranger', 'client');
  });

  after(() => certificates.remove());

  beforeEach(() => {
    harness = new LookasideHarness();
  });

  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    harness.front.forceShutdown();
    tls?.close();
    await listener?.close();
    listener = undefined;
    tls = undefined;
  });

  async function serve(files: ServingTlsFiles, logger = silentLogger()): Promise<number> {
    tls = await ServingTls.open(files, logger, { pollIntervalMs: 100 });
    listener = await listenWithLimits(harness.front, { host: '127.0.0.1', port: 0, maxConnections: 10, tls: tls.server });
    return listener.port;
  }

  /** A TLS channel trusting `ca`, presenting `identity` when given. */
  async function channelTo(port: number, ca: IssuedFiles, identity?: IssuedFiles): Promise<Client> {
    const [caPem, key, cert] = await Promise.all([
      readFile(ca.certFile),
      identity === undefined ? undefined : readFile(identity.keyFile),
      identity === undefined ? undefined : readFile(identity.certFile),
    ]);
    const channel = new Client(`127.0.0.1:${port}`, credentials.createSsl(caPem, key ?? null, cert ?? null));
    channels.push(channel);
    return channel;
  }

  function resolve(channel: Client, service = 'svc-1'): Promise<ServiceError | null> {
    const method = harness.method('Resolve');
    return new Promise((done) =>
      channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service }, { deadline: Date.now() + 10_000 }, (error) => done(error)),
    );
  }

  /** The fingerprint of the certificate a new TLS connection is served. */
  function servedFingerprint(port: number): Promise<string> {
    return new Promise((done, fail) => {
      const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
        done(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.on('error', fail);
    });
  }

  it('serves Resolve to a client that trusts the CA of its certificate', async () => {
    const port = await serve({ certFile: server.certFile, keyFile: server.keyFile });
    assert.equal(await resolve(await channelTo(port, serverCa)), null);
  });

  it('is refused by a client that trusts another CA, with the reason', async () => {
    const port = await serve({ certFile: server.certFile, keyFile: server.keyFile });
    const error = await resolve(await channelTo(port, otherCa));
    assert.equal(error?.code, Status.UNAVAILABLE);
    assert.match(error?.details ?? '', /unable to verify the first certificate/);
  });

  it('with a client CA: serves clients whose certificate it signed', async () => {
    const port = await serve({ certFile: server.certFile, keyFile: server.keyFile, clientCaFile: clientCa.certFile });
    assert.equal(await resolve(await channelTo(port, serverCa, client)), null);
  });

  it('with a client CA: refuses a client without a certificate, and both sides say why', async () => {
    const { logger, lines } = capturingLogger();
    const port = await serve({ certFile: server.certFile, keyFile: server.keyFile, clientCaFile: clientCa.certFile }, logger);
    const error = await resolve(await channelTo(port, serverCa));
    assert.equal(error?.code, Status.UNAVAILABLE);
    assert.match(error?.details ?? '', /alert certificate required/);
    const failure = lines.find((line) => line['msg'] === 'TLS handshake failed');
    assert.match(String(failure?.['err']), /peer did not return a certificate/);
  });

  it('with a client CA: refuses a client whose certificate another CA signed, and says why', async () => {
    const { logger, lines } = capturingLogger();
    const port = await serve({ certFile: server.certFile, keyFile: server.keyFile, clientCaFile: clientCa.certFile }, logger);
    const error = await resolve(await channelTo(port, serverCa, strangerClient));
    assert.equal(error?.code, Status.UNAVAILABLE);
    const failure = lines.find((line) => line['msg'] === 'TLS handshake failed');
    assert.match(String(failure?.['err']), /^client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE$/);
  });

  it('serves the rotated certificate to new connections, while calls on the open one keep succeeding', async () => {
    const rotated = await certificates.issue(otherCa, 'server-rotated', 'server');
    const volume = await SecretVolume.create(join(certificates.directory, 'volume'), { 'tls.crt': server.certFile, 'tls.key': server.keyFile });
    const { logger, lines } = capturingLogger();
    const port = await serve({ certFile: volume.path('tls.crt'), keyFile: volume.path('tls.key') }, logger);
    const before = await channelTo(port, serverCa);
    assert.equal(await resolve(before), null);
    assert.equal(await servedFingerprint(port), await certificates.fingerprint(server.certFile));

    await volume.update({ 'tls.crt': rotated.certFile, 'tls.key': rotated.keyFile });
    const expected = await certificates.fingerprint(rotated.certFile);
    let calls = 0;
    await until(async () => {
      assert.equal(await resolve(before), null, 'a call on the connection opened before the rotation');
      calls += 1;
      return (await servedFingerprint(port)) === expected;
    }, 'new connections to see the rotated certificate');
    assert.ok(calls >= 1);
    assert.equal(await resolve(before), null);
    assert.equal(await resolve(await channelTo(port, otherCa)), null, 'a client trusting the new CA');
    assert.ok(lines.some((line) => line['msg'] === 'TLS files reloaded; new connections use them'));
  });

  it('keeps the certificate in service when the new files do not make a pair, and logs why', async () => {
    const certFile = join(certificates.directory, 'pair.crt');
    const keyFile = join(certificates.directory, 'pair.key');
    await writeFile(certFile, await readFile(server.certFile));
    await writeFile(keyFile, await readFile(server.keyFile));
    const { logger, lines } = capturingLogger();
    const port = await serve({ certFile, keyFile }, logger);
    await writeFile(keyFile, await readFile(client.keyFile));
    await until(() => lines.some((line) => line['msg'] === 'cannot reload the TLS files; the previous certificate stays in service'), 'the failed reload logged');
    const failed = lines.find((line) => line['msg'] === 'cannot reload the TLS files; the previous certificate stays in service');
    assert.match(String(failed?.['err']), /^TLS_KEY_FILE: the key in .* does not match the certificate in TLS_CERT_FILE/);
    assert.equal(await servedFingerprint(port), await certificates.fingerprint(server.certFile));
    assert.equal(await resolve(await channelTo(port, serverCa)), null);
  });

  describe('refuses bad files at start-up, naming the variable', () => {
    async function openError(files: () => ServingTlsFiles): Promise<ConfigError> {
      const error = await ServingTls.open(files(), silentLogger()).then(
        (opened) => {
          opened.close();
          return undefined;
        },
        (failure: unknown) => failure,
      );
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      return error;
    }

    it('a missing certificate file', async () => {
      const error = await openError(() => ({ certFile: join(certificates.directory, 'none.crt'), keyFile: server.keyFile }));
      assert.equal(error.variable, 'TLS_CERT_FILE');
      assert.match(error.message, /^TLS_CERT_FILE: cannot read .*none\.crt: ENOENT/);
    });

    it('a key that does not match the certificate', async () => {
      const error = await openError(() => ({ certFile: server.certFile, keyFile: client.keyFile }));
      assert.equal(error.variable, 'TLS_KEY_FILE');
      assert.match(error.message, /does not match the certificate in TLS_CERT_FILE/);
    });

    it('a key file that holds no key', async () => {
      const error = await openError(() => ({ certFile: server.certFile, keyFile: server.certFile }));
      assert.equal(error.variable, 'TLS_KEY_FILE');
      assert.match(error.message, /holds no usable PEM private key/);
    });

    it('a client CA file that holds no certificate', async () => {
      const error = await openError(() => ({ certFile: server.certFile, keyFile: server.keyFile, clientCaFile: server.keyFile }));
      assert.equal(error.variable, 'TLS_CLIENT_CA_FILE');
      assert.match(error.message, /holds no PEM certificate/);
    });
  });
});
