import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { Registry } from 'prom-client';

import { silentLogger } from '../../src/common/logging.js';
import { ENDPOINTS_FILE_MAX_BYTES, FileDiscovery } from '../../src/lookaside/discovery/file.js';
import type { DiscoveryState } from '../../src/lookaside/discovery/types.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import { Resolver, type ResolveOutcome } from '../../src/lookaside/resolver.js';
import { WatchedServices } from '../../src/lookaside/watched-services.js';
import { capturingLogger } from '../support/capture-log.js';
import { eventually } from '../support/process.js';

function fileWith(...addresses: string[]): string {
  const endpoints = addresses.map((address) => `      - { address: "${address}" }`).join('\n');
  return `services:\n  - name: greet\n    endpoints:\n${endpoints || '      []'}\n`;
}

/** A file of about `bytes` bytes: `greet` at `address`, then filler Services. */
function largeFileWith(address: string, bytes: number): string {
  const filler: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `  - { name: filler-${i}, endpoints: [ { address: "10.1.${Math.floor(i / 250) % 250}.${(i % 250) + 1}:80", pod: filler-${i} } ] }\n`;
    filler.push(line);
    size += line.length;
  }
  return `services:\n  - name: greet\n    endpoints: [ { address: "${address}" } ]\n${filler.join('')}`;
}

const COMMENT_ONLY = '# Endpoints for running the lookaside without a cluster (DISCOVERY=file).\n# Edit while it runs: the file is reloaded on change.\n#\n';

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

  it('keeps the last good content, with a warning, when the file is left with only a comment (a write cut off)', async () => {
    const { logger, lines } = capturingLogger();
    source = await FileDiscovery.open(path, logger);
    let latest: DiscoveryState | undefined;
    source.follow({ namespace: 'default', name: 'greet' }, (state) => (latest = state));
    await eventually(() => readyAddresses(latest));

    await writeFile(path, COMMENT_ONLY);
    await source.reload();
    assert.deepEqual(readyAddresses(latest), ['10.0.0.1:80', '10.0.0.2:80']);
    const warning = lines.find((line) => line['msg'] === 'endpoints file has no services list; keeping the last good content');
    assert.equal(warning?.['level'], 40, 'logged as a warning');
    assert.match(String(warning?.['err']), /write "services: \[\]" for no Services/);

    await writeFile(path, `${COMMENT_ONLY}services: []\n`);
    await source.reload();
    assert.equal(latest?.kind === 'synced' && latest.snapshot.sliceCount, 0, 'an explicit `services: []` empties it');
  });

  it('keeps the last good content, and says why, when the file grows past the size limit', async () => {
    const { logger, lines } = capturingLogger();
    source = await FileDiscovery.open(path, logger, { maxBytes: 4_096 });
    let latest: DiscoveryState | undefined;
    source.follow({ namespace: 'default', name: 'greet' }, (state) => (latest = state));
    await eventually(() => readyAddresses(latest));

    await writeFile(path, largeFileWith('10.0.0.3:80', 5_000));
    await source.reload();
    assert.deepEqual(readyAddresses(latest), ['10.0.0.1:80', '10.0.0.2:80']);
    const logged = lines.find((line) => line['msg'] === 'endpoints file is too large; keeping the last good content');
    assert.match(String(logged?.['err']), /^is \d+ bytes, more than the 4096 bytes an endpoints file may have$/);
    assert.equal(logged?.['level'], 50);

    await writeFile(path, largeFileWith('10.0.0.3:80', 3_000));
    await source.reload();
    assert.deepEqual(readyAddresses(latest), ['10.0.0.3:80'], 'a file back under the limit is taken');
  });

  it('answers Resolve from the last good content while a large file is parsed in a worker thread', async () => {
    source = await FileDiscovery.open(path, silentLogger());
    const metrics = new LookasideMetrics(new Registry());
    const services = new WatchedServices({ source, maxServices: 10, idleTimeoutMs: 60_000, metrics, logger: silentLogger() });
    const resolver = new Resolver({
      services,
      ownNamespace: 'default',
      defaultPolicy: 'round_robin',
      allowedNamespaces: [],
      describeMissing: (namespace, name) => source?.describeMissing({ namespace, name }) ?? '',
    });
    const query = { service: 'greet', namespace: 'default', policy: undefined, portName: '' };
    const address = (outcome: ResolveOutcome): string => (outcome.ok ? outcome.endpoint.address : `!${outcome.reason}`);
    try {
      assert.equal(address(await resolver.resolve(query, 5_000)), '10.0.0.1:80');
      await writeFile(path, largeFileWith('10.0.0.3:80', ENDPOINTS_FILE_MAX_BYTES / 8));

      // From the moment the parser thread exists until the reload is applied, keep resolving.
      const answeredWhileParsing: string[] = [];
      let reloaded = false;
      const workers: Worker[] = [];
      const onWorker = (worker: Worker): void => {
        workers.push(worker);
        const resolveAgain = (): void => {
          if (reloaded) return;
          const outcome = resolver.resolve(query);
          assert.ok(!(outcome instanceof Promise), 'a followed Service answers from memory');
          answeredWhileParsing.push(address(outcome));
          setImmediate(resolveAgain);
        };
        setImmediate(resolveAgain);
      };
      process.on('worker', onWorker);
      try {
        await source.reload();
      } finally {
        reloaded = true;
        process.off('worker', onWorker);
      }
      assert.equal(workers.length, 1, 'parsed in a worker thread');
      assert.ok(answeredWhileParsing.length > 0, 'Resolve answered while the file was parsed');
      assert.deepEqual(new Set(answeredWhileParsing), new Set(['10.0.0.1:80', '10.0.0.2:80']), 'from the last good content');
      await eventually(() => (address(resolver.resolve(query) as ResolveOutcome) === '10.0.0.3:80' ? true : undefined));
    } finally {
      services.close();
    }
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

  it('refuses to start on a file with no services list, naming ENDPOINTS_FILE', async () => {
    for (const text of ['', COMMENT_ONLY]) {
      await writeFile(path, text);
      await assert.rejects(
        FileDiscovery.open(path, silentLogger()),
        (error: Error) => error.message.startsWith(`ENDPOINTS_FILE: ${path}: has no "services" list`),
      );
    }
  });

  it(`refuses to start on a file over ${ENDPOINTS_FILE_MAX_BYTES} bytes, naming ENDPOINTS_FILE and the limit`, async () => {
    await writeFile(path, fileWith('10.0.0.1:80'));
    await truncate(path, ENDPOINTS_FILE_MAX_BYTES + 1);
    await assert.rejects(
      FileDiscovery.open(path, silentLogger()),
      (error: Error) => error.message === `ENDPOINTS_FILE: ${path}: is ${ENDPOINTS_FILE_MAX_BYTES + 1} bytes, more than the ${ENDPOINTS_FILE_MAX_BYTES} bytes an endpoints file may have`,
    );
  });
});
