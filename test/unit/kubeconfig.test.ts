import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadKubeConfig, SERVICE_ACCOUNT_TOKEN_PATH } from '../../src/lookaside/discovery/kubeconfig.js';
import { corruptKubeconfig } from '../support/kubeconfigs.js';

function kubeconfig(name: string, server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [ { name: ${name}, cluster: { server: "${server}" } } ]`,
    `users: [ { name: ${name}-user, user: { token: t } } ]`,
    `contexts: [ { name: ${name}, context: { cluster: ${name}, user: ${name}-user } } ]`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

describe('kubeconfig loading', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-kubeconfig-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('loads the files in order; the last current-context wins, as client-node\'s loadFromDefault does', async () => {
    const first = join(directory, 'a');
    const second = join(directory, 'b');
    await writeFile(first, kubeconfig('one', 'https://10.0.0.1:6443'));
    await writeFile(second, kubeconfig('two', 'https://10.0.0.2:6443'));
    assert.equal(loadKubeConfig({ kind: 'kubeconfig', files: [first] }).getCurrentCluster()?.server, 'https://10.0.0.1:6443');
    const merged = loadKubeConfig({ kind: 'kubeconfig', files: [first, second] });
    assert.equal(merged.getCurrentCluster()?.server, 'https://10.0.0.2:6443');
    assert.deepEqual(merged.getClusters().map((cluster) => cluster.name), ['one', 'two']);
  });

  it('names KUBECONFIG, the file and the position of a YAML fault, and shows none of the file', async () => {
    const file = join(directory, 'config');
    await writeFile(file, corruptKubeconfig());
    assert.throws(
      () => loadKubeConfig({ kind: 'kubeconfig', files: [file] }),
      (error: Error) => {
        assert.equal(
          error.message,
          `KUBECONFIG: ${file}: not valid YAML at line 11, column 4 (bad indentation of a mapping entry); ` +
            'its content is not shown, as a kubeconfig holds credentials',
        );
        return true;
      },
    );
  });

  it('names KUBECONFIG for a file that is not a kubeconfig, or selects no cluster', async () => {
    const file = join(directory, 'config');
    await writeFile(file, 'users: [ { user: { token: t } } ]\n');
    assert.throws(() => loadKubeConfig({ kind: 'kubeconfig', files: [file] }), /^Error: KUBECONFIG: .*config: not a usable kubeconfig: users\[0\]\.name is missing$/);
    await writeFile(file, kubeconfig('one', 'https://10.0.0.1:6443').replace('current-context: one', 'current-context: elsewhere'));
    assert.throws(() => loadKubeConfig({ kind: 'kubeconfig', files: [file] }), /^Error: KUBECONFIG: .*config: the current context "elsewhere" names no cluster/);
  });

  it('refuses an in-cluster config without a service account token, naming KUBECONFIG', () => {
    const noToken = (path: string): boolean => path !== SERVICE_ACCOUNT_TOKEN_PATH;
    assert.throws(
      () => loadKubeConfig({ kind: 'in-cluster' }, noToken),
      /^Error: KUBECONFIG: is not set, and the in-cluster config has no service account token at \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token/,
    );
  });
});
