import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { silentLogger } from '../../src/common/logging.js';
import { FileDiscovery } from '../../src/lookaside/discovery/file.js';
import type { DiscoveryState } from '../../src/lookaside/discovery/types.js';
import { eventually } from '../support/process.js';

function fileWith(...addresses: string[]): string {
  const endpoints = addresses.map((address) => `      - { address: "${address}" }`).join('\n');
  return `services:\n  - name: greet\n    endpoints:\n${endpoints || '      []'}\n`;
}

function readyAddresses(state: DiscoveryState | undefined): string[] | undefined {
  return state?.kind === 'synced' ? state.snapshot.readyByPort.get('')?.map((e) => e.address) ?? [] : undefined;
}

describe('file discovery', () => {
  let directory: string;
  let path: string;
  let source: FileDiscovery | undefined;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-file-'));
    path = join(directory, 'endpoints.yaml');
    await writeFile(path, fileWith('10.0.0.1:80', '10.0.0.2:80'));
  });

  afterEach(async () => {
    await source?.close();
    source = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  async function follow(name = 'greet'): Promise<{ latest: () => DiscoveryState | undefined; stop: () => void }> {
    source = await FileDiscovery.open(path, silentLogger());
    let latest: DiscoveryState | undefined;
    const subscription = source.follow({ namespace: 'default', name }, (state) => {
      latest = state;
    });
    return { latest: () => latest, stop: () => subscription.stop() };
  }

  it('delivers the current endpoints asynchronously after follow', async () => {
    source = await FileDiscovery.open(path, silentLogger());
    let delivered: DiscoveryState | undefined;
    source.follow({ namespace: 'default', name: 'greet' }, (state) => {
      delivered = state;
    });
    assert.equal(delivered, undefined, 'never called synchronously');
    await eventually(() => delivered);
    assert.deepEqual(readyAddresses(delivered), ['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('reports a Service missing from the file as having no slices', async () => {
    const followed = await follow('absent');
    const state = await eventually(() => followed.latest());
    assert.equal(state.kind === 'synced' && state.snapshot.sliceCount, 0);
  });

  it('looking a missing name up (endIfMissing), says so once and follows it no further', async () => {
    source = await FileDiscovery.open(path, silentLogger());
    const states: DiscoveryState[] = [];
    const lookup = { namespace: 'default', name: 'absent' };
    source.follow(lookup, (state) => void states.push(state), { endIfMissing: true });
    await eventually(() => states[0]);
    await writeFile(path, `${fileWith('10.0.0.1:80')}  - name: absent\n    endpoints: [{ address: "10.0.0.9:80" }]\n`);
    await source.reload();
    assert.deepEqual(
      states.map((state) => state.kind === 'synced' && state.snapshot.sliceCount),
      [0],
      'nothing delivered after the missing answer',
    );

    const found: DiscoveryState[] = [];
    source.follow(lookup, (state) => void found.push(state), { endIfMissing: true });
    await eventually(() => found[0]);
    await writeFile(path, fileWith('10.0.0.1:80'));
    await source.reload();
    assert.deepEqual(found.map(readyAddresses), [['10.0.0.9:80'], []], 'a name that exists is followed on');
  });

  it('picks up a rewritten file', async () => {
    const followed = await follow();
    await eventually(() => readyAddresses(followed.latest()));
    await writeFile(path, fileWith('10.0.0.3:80'));
    await eventually(() => (readyAddresses(followed.latest())?.join() === '10.0.0.3:80' ? true : undefined), 5_000, 'reload');
  });

  it('picks up a file replaced by rename, as editors and kubectl do', async () => {
    const followed = await follow();
    await eventually(() => readyAddresses(followed.latest()));
    const next = join(directory, 'endpoints.yaml.tmp');
    await writeFile(next, fileWith('10.0.0.4:80', '10.0.0.5:80'));
    await rename(next, path);
    await eventually(
      () => (readyAddresses(followed.latest())?.join() === '10.0.0.4:80,10.0.0.5:80' ? true : undefined),
      5_000,
      'reload after rename',
    );
  });

  it('keeps the last good content when the file breaks, and recovers when fixed', async () => {
    const followed = await follow();
    await eventually(() => readyAddresses(followed.latest()));
    let deliveries = 0;
    source?.follow({ namespace: 'default', name: 'greet' }, () => deliveries++);
    await eventually(() => (deliveries > 0 ? true : undefined));

    await writeFile(path, 'services: [ {name: greet, endpoints: [ {address: "nonsense"');
    await source?.reload();
    assert.equal(deliveries, 1, 'a broken file publishes nothing');
    assert.deepEqual(readyAddresses(followed.latest()), ['10.0.0.1:80', '10.0.0.2:80']);

    await rm(path);
    await source?.reload();
    assert.deepEqual(readyAddresses(followed.latest()), ['10.0.0.1:80', '10.0.0.2:80'], 'a deleted file too');

    await writeFile(path, fileWith('10.0.0.9:80'));
    await source?.reload();
    assert.deepEqual(readyAddresses(followed.latest()), ['10.0.0.9:80']);
  });

  it('treats an emptied file as a write caught half-way and keeps the last good content', async () => {
    const followed = await follow();
    await eventually(() => readyAddresses(followed.latest()));
    await writeFile(path, '');
    await source?.reload();
    assert.deepEqual(readyAddresses(followed.latest()), ['10.0.0.1:80', '10.0.0.2:80']);
    await writeFile(path, 'services: []\n');
    await source?.reload();
    const state = followed.latest();
    assert.equal(state?.kind === 'synced' && state.snapshot.sliceCount, 0, '`services: []` does empty it');
  });

  it('stops delivering after the subscription stops', async () => {
    const followed = await follow();
    await eventually(() => readyAddresses(followed.latest()));
    followed.stop();
    await writeFile(path, fileWith('10.0.0.7:80'));
    await source?.reload();
    assert.deepEqual(readyAddresses(followed.latest()), ['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('refuses to start on a missing or broken file, naming ENDPOINTS_FILE', async () => {
    await assert.rejects(FileDiscovery.open(join(directory, 'nope.yaml'), silentLogger()), /^Error: ENDPOINTS_FILE: cannot read/);
    await writeFile(path, 'services: 3');
    await assert.rejects(FileDiscovery.open(path, silentLogger()), /ENDPOINTS_FILE: .*services: must be a list/);
  });
});
