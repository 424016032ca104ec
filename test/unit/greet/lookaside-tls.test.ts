import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ConfigError } from '../../../src/common/config.js';
import { lookasideTlsOptions } from '../../../src/greet/gateway/lookaside-tls.js';
import { capturingLogger } from '../../support/capture-log.js';
import { TestCertificates, type IssuedFiles } from '../../support/certificates.js';

describe('the gateway’s TLS files for the lookaside (LB_TLS_*)', function () {
  this.timeout(30_000);
  let certificates: TestCertificates;
  let ca: IssuedFiles;
  let newCa: IssuedFiles;
  let client: IssuedFiles;

  before(async () => {
    certificates = await TestCertificates.create();
    [ca, newCa] = (await Promise.all([certificates.ca('ca'), certificates.ca('new-ca')])) as [IssuedFiles, IssuedFiles];
    client = await certificates.issue(ca, 'gateway', 'client');
  });

  after(() => certificates.remove());

  it('reads the files again for each new connection, so a rotated CA or certificate is used from the next one on', async () => {
    const caFile = join(certificates.directory, 'trusted.crt');
    await copyFile(ca.certFile, caFile);
    const options = lookasideTlsOptions({ caFile, clientCertFile: client.certFile, clientKeyFile: client.keyFile }, capturingLogger().logger);
    const first = options();
    assert.equal(first.ca, await readFile(ca.certFile, 'utf8'));
    assert.equal(first.cert, await readFile(client.certFile, 'utf8'));
    assert.equal(first.key, await readFile(client.keyFile, 'utf8'));
    await copyFile(newCa.certFile, caFile);
    assert.equal(options().ca, await readFile(newCa.certFile, 'utf8'));
  });

  it('keeps the last good files, and says so, when the new ones cannot be used', async () => {
    const caFile = join(certificates.directory, 'half-written.crt');
    await copyFile(ca.certFile, caFile);
    const { logger, lines } = capturingLogger();
    const options = lookasideTlsOptions({ caFile }, logger);
    await writeFile(caFile, '-----BEGIN CERT');
    assert.equal(options().ca, await readFile(ca.certFile, 'utf8'));
    const warned = lines.find((line) => line['msg'] === 'cannot read the TLS files for the lookaside; using the previous ones');
    assert.match(String(warned?.['err']), /^LB_TLS_CA_FILE: .*half-written\.crt holds no PEM certificate/);
  });

  it('refuses bad files at once, naming the variable', () => {
    const attempt = (files: Parameters<typeof lookasideTlsOptions>[0]): ConfigError => {
      try {
        lookasideTlsOptions(files, capturingLogger().logger);
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        return error;
      }
      assert.fail('expected a ConfigError');
    };
    assert.equal(attempt({ caFile: join(certificates.directory, 'none.crt') }).variable, 'LB_TLS_CA_FILE');
    assert.equal(attempt({ caFile: ca.certFile, clientCertFile: client.certFile, clientKeyFile: ca.keyFile }).variable, 'LB_TLS_KEY_FILE');
    assert.equal(attempt({ clientCertFile: client.keyFile, clientKeyFile: client.keyFile }).variable, 'LB_TLS_CERT_FILE');
  });
});
