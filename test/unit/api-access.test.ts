import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { ApiCredentials, CREDENTIALS_REFRESH_MIN_MS, readApiAccess, TOKEN_FILE_REREAD_MS, type ApiAccess } from '../../src/lookaside/discovery/api-access.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

/** A kubeconfig with one cluster and one user; `cluster` and `user` are merged into the defaults. */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443/', ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

describe('readApiAccess: the kubeconfig read in a child process', function () {
  this.timeout(30_000);
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-access-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function read(text: string): Promise<ApiAccess> {
    const file = join(directory, 'config');
    await writeFile(file, text);
    return readApiAccess({ kind: 'kubeconfig', files: [file] });
  }

  it('gives the server, its CA and a bearer token as plain data', async () => {
    const access = await read(kubeconfig({ 'certificate-authority-data': Buffer.from(CA).toString('base64') }, { token: 'abc' }));
    assert.deepEqual(access, {
      server: 'https://10.0.0.1:6443',
      tls: { ca: CA, rejectUnauthorized: true },
      headers: { authorization: 'Bearer abc' },
      expiring: false,
    });
  });

  it('reads client certificates from files and honours insecure-skip-tls-verify and tls-server-name', async () => {
    await writeFile(join(directory, 'client.crt'), 'CERT');
    await writeFile(join(directory, 'client.key'), 'KEY');
    const access = await read(
      kubeconfig(
        { 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes.default' },
        { 'client-certificate': join(directory, 'client.crt'), 'client-key': join(directory, 'client.key') },
      ),
    );
    assert.deepEqual(access.tls, { cert: 'CERT', key: 'KEY', rejectUnauthorized: false, servername: 'kubernetes.default' });
    assert.deepEqual(access.headers, {});
  });

  it('names a mounted token file, to be read again as the kubelet rotates it', async () => {
    const tokenFile = join(directory, 'token');
    await writeFile(tokenFile, 'mounted');
    const access = await read(kubeconfig({}, { 'auth-provider': { name: 'tokenFile', config: { tokenFile } } }));
    assert.equal(access.tokenFile, tokenFile);
    assert.equal(access.expiring, false);
  });

  it('runs an exec plugin for its token and marks the credentials as expiring', async () => {
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-exec' } };
    const access = await read(
      kubeconfig({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', `console.log(${JSON.stringify(JSON.stringify(credential))})`] } }),
    );
    assert.equal(access.headers['authorization'], 'Bearer from-exec');
    assert.equal(access.expiring, true);
  });

  it('refuses a proxy-url, and a kubeconfig client-node cannot read, naming KUBECONFIG', async () => {
    await assert.rejects(read(kubeconfig({ 'proxy-url': 'http://proxy:3128' }, { token: 'abc' })), /^Error: KUBECONFIG: cluster "c" has a proxy-url/);
    await assert.rejects(read('users: [ { user: { token: t } } ]\n'), /^Error: KUBECONFIG: .*config: not a usable kubeconfig: users\[0\]\.name is missing$/);
  });
});

describe('ApiCredentials: the headers of the next request', () => {
  const access: ApiAccess = { server: 'https://k', tls: { rejectUnauthorized: true }, headers: { authorization: 'Bearer static', 'impersonate-user': 'bob' }, expiring: false };

  it('re-reads a mounted token once a minute, not on every request', async () => {
    let reads = 0;
    const clock = { nowMs: 0 };
    const credentials = new ApiCredentials(
      { ...access, tokenFile: '/token' },
      { readTokenFile: async () => `token-${++reads}\n`, now: () => clock.nowMs },
    );
    assert.deepEqual(await credentials.headers(), { authorization: 'Bearer token-1', 'impersonate-user': 'bob' });
    clock.nowMs += TOKEN_FILE_REREAD_MS;
    assert.equal((await credentials.headers())['authorization'], 'Bearer token-1');
    clock.nowMs += 1;
    assert.equal((await credentials.headers())['authorization'], 'Bearer token-2');
    credentials.unauthorized();
    assert.equal((await credentials.headers())['authorization'], 'Bearer token-3', 'a 401 reads it again at once');
  });

  it('reads expiring credentials again after a 401, at most every CREDENTIALS_REFRESH_MIN_MS', async () => {
    let rereads = 0;
    const clock = { nowMs: 0 };
    const credentials = new ApiCredentials(
      { ...access, expiring: true },
      { reread: async () => ({ ...access, expiring: true, headers: { authorization: `Bearer fresh-${++rereads}` } }), now: () => clock.nowMs },
    );
    credentials.unauthorized();
    credentials.unauthorized();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(rereads, 1);
    assert.deepEqual(await credentials.headers(), { authorization: 'Bearer fresh-1' });
    clock.nowMs += CREDENTIALS_REFRESH_MIN_MS - 1;
    credentials.unauthorized();
    assert.equal(rereads, 1);
    clock.nowMs += 1;
    credentials.unauthorized();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(rereads, 2);
  });

  it('never reads static credentials again', async () => {
    let rereads = 0;
    const credentials = new ApiCredentials(access, { reread: async () => (rereads++, access) });
    credentials.unauthorized();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(rereads, 0);
    assert.deepEqual(await credentials.headers(), access.headers);
  });
});
