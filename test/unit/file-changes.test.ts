import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { silentLogger } from '../../src/common/logging.js';
import { FileDiscovery, type FileDiscoveryOptions } from '../../src/lookaside/discovery/file.js';
import type { DiscoveryState } from '../../src/lookaside/discovery/types.js';
import { delay, eventually } from '../support/process.js';

/**
 * How the endpoints file's changes are noticed: the directory watcher and the
 * poll each on their own, so neither hides the other's failure.
 */

/** Every file below has the same length, so only a file's identity (inode, times) tells versions apart. */
function fileWith(address: string): string {
  return `services:\n  - name: greet\n    endpoints: [ { address: "${address}" } ]\n`;
}

function served(state: DiscoveryState | undefined): string | undefined {
  return state?.kind === 'synced' ? (state.snapshot.readyByPort.get('')?.map((e) => e.address).join() ?? '') : undefined;
}

/**
 * What the kubelet does to a ConfigMap volume: the file is a symlink through
 * `..data`, a symlink to a timestamped directory; an update writes a new
 * directory and renames a new `..data` over the old one in one step.
 */
const SAME_TIME_S = 1_780_000_000;

class ConfigMapVolume {
  private version = 0;

  constructor(readonly directory: string) {}

  get file(): string {
    return join(this.directory, 'endpoints.yaml');
  }

  async create(content: string): Promise<void> {
    const target = await this.writeVersion(content);
    await symlink(target, join(this.directory, '..data'));
    await symlink(join('..data', 'endpoints.yaml'), this.file);
  }

  /** Swaps `..data` to a new version whose file has the old one's modification time. */
  async swap(content: string): Promise<void> {
    const before = await stat(this.file);
    const target = await this.writeVersion(content);
    await symlink(target, join(this.directory, '..data_tmp'));
    await rename(join(this.directory, '..data_tmp'), join(this.directory, '..data'));
    const after = await stat(this.file);
    assert.equal(after.mtimeMs, before.mtimeMs, 'the new version keeps the modification time');
    assert.equal(after.size, before.size, 'and the size');
  }

  private async writeVersion(content: string): Promise<string> {
    const name = `..2026_06_01_12_00_0${this.version++}.000000001`;
    await mkdir(join(this.directory, name));
    const file = join(this.directory, name, 'endpoints.yaml');
    await writeFile(file, content);
    // Every version carries the same whole-second time, as a copy that keeps times or a coarse clock gives.
    await utimes(file, SAME_TIME_S, SAME_TIME_S);
    return name;
  }
}

const MECHANISMS: ReadonlyArray<{ readonly title: string; readonly options: FileDiscoveryOptions }> = [
  { title: 'the directory watcher alone (polling off)', options: { watch: true, pollIntervalMs: 0 } },
  { title: 'the poll alone (watcher off)', options: { watch: false, pollIntervalMs: 25 } },
];

describe('endpoints file change detection', () => {
  let directory: string;
  let source: FileDiscovery | undefined;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-changes-'));
  });

  afterEach(async () => {
    await source?.close();
    source = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  async function follow(path: string, options: FileDiscoveryOptions): Promise<() => string | undefined> {
    source = await FileDiscovery.open(path, silentLogger(), options);
    let latest: DiscoveryState | undefined;
    source.follow({ namespace: 'default', name: 'greet' }, (state) => (latest = state));
    await eventually(() => served(latest));
    return () => served(latest);
  }

  function until(current: () => string | undefined, expected: string, what: string): Promise<true> {
    return eventually(() => (current() === expected ? true : undefined), 10_000, what);
  }

  for (const { title, options } of MECHANISMS) {
    describe(title, () => {
      it('picks up a file rewritten in place', async () => {
        const path = join(directory, 'endpoints.yaml');
        await writeFile(path, fileWith('10.0.0.1:80'));
        const current = await follow(path, options);
        await writeFile(path, fileWith('10.0.0.2:80'));
        await until(current, '10.0.0.2:80', 'the rewrite');
      });

      it('picks up a file replaced by rename', async () => {
        const path = join(directory, 'endpoints.yaml');
        await writeFile(path, fileWith('10.0.0.1:80'));
        const current = await follow(path, options);
        await writeFile(`${path}.tmp`, fileWith('10.0.0.3:80'));
        await rename(`${path}.tmp`, path);
        await until(current, '10.0.0.3:80', 'the rename');
      });

      it('picks up a ConfigMap-style ..data swap to a file with the same size and modification time', async () => {
        const volume = new ConfigMapVolume(directory);
        await volume.create(fileWith('10.0.0.1:80'));
        const current = await follow(volume.file, options);
        await volume.swap(fileWith('10.0.0.4:80'));
        await until(current, '10.0.0.4:80', 'the ..data swap');
        await volume.swap(fileWith('10.0.0.5:80'));
        await until(current, '10.0.0.5:80', 'a second swap');
      });
    });
  }

  it('with both off, sees a change only when asked to reload', async () => {
    const path = join(directory, 'endpoints.yaml');
    await writeFile(path, fileWith('10.0.0.1:80'));
    const current = await follow(path, { watch: false, pollIntervalMs: 0 });
    await writeFile(path, fileWith('10.0.0.6:80'));
    await delay(300);
    assert.equal(current(), '10.0.0.1:80');
    await source?.reload();
    assert.equal(current(), '10.0.0.6:80');
  });
});
