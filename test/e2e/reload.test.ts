import { strict as assert } from 'node:assert';
import { rm } from 'node:fs/promises';

import { eventually } from '../support/process.js';
import { callMany, ProcessGroup, type FileService, type RunningLookaside } from './support/lookaside.js';

/** File events arrive within milliseconds; the 2 s poll is the fallback. Generous for loaded CI machines. */
const RELOAD_DEADLINE_MS = 10_000;

function app(...addresses: string[]): FileService[] {
  return [{ namespace: 'default', name: 'app', endpoints: addresses.map((address, index) => ({ address, pod: `app-${index}` })) }];
}

/** The addresses of one round of round-robin Resolves (as many calls as there are ready endpoints), sorted. */
async function servedAddresses(lookaside: RunningLookaside): Promise<string[]> {
  const first = await lookaside.resolve({ service: 'app' });
  const rest = await callMany(first.readyEndpoints - 1, () => lookaside.resolve({ service: 'app' }));
  return [first, ...rest].map((answer) => answer.address).sort();
}

/** Polls Resolve until the served set is exactly `expected`. */
async function untilServing(lookaside: RunningLookaside, expected: string[]): Promise<void> {
  const wanted = [...expected].sort();
  await eventually(
    async () => {
      const answer = await lookaside.resolve({ service: 'app' });
      if (answer.readyEndpoints !== wanted.length || !wanted.includes(answer.address)) return undefined;
      const served = await servedAddresses(lookaside);
      return JSON.stringify(served) === JSON.stringify(wanted) ? true : undefined;
    },
    RELOAD_DEADLINE_MS,
    `serving ${wanted.join(', ')}`,
  );
}

function isBrokenFileLine(line: { msg?: string }): boolean {
  return line.msg === 'endpoints file is broken; keeping the last good content';
}

describe('lookaside end to end: live reload of the endpoints file', function () {
  const group = new ProcessGroup();
  let lookaside: RunningLookaside;

  beforeEach(async function () {
    // The file is read before the process listens, so 10.2.0.1 is served from the first call.
    lookaside = await group.start({ services: app('10.2.0.1:50051') });
  });

  afterEach(async function () {
    await group.stopAll();
  });

  it('serves the new endpoints after the file is rewritten in place', async function () {
    await lookaside.rewriteEndpoints(app('10.2.0.2:50051', '10.2.0.3:50051'));
    await untilServing(lookaside, ['10.2.0.2:50051', '10.2.0.3:50051']);
  });

  it('serves the new endpoints after the file is replaced by an atomic rename', async function () {
    await lookaside.replaceEndpoints(app('10.2.0.4:50051'));
    await untilServing(lookaside, ['10.2.0.4:50051']);
    await lookaside.replaceEndpoints(app('10.2.0.4:50051', '[fd00::2]:50051'));
    await untilServing(lookaside, ['10.2.0.4:50051', '[fd00::2]:50051']);
  });

  it('answers NOT_FOUND once a Service is removed from the file, and serves a Service added to it', async function () {
    await lookaside.rewriteEndpoints([{ namespace: 'default', name: 'newcomer', endpoints: [{ address: '10.2.1.1:50051' }] }]);
    await eventually(
      async () => ((await lookaside.call('lookaside.v1.Lookaside/Resolve', { service: 'app' })).body?.['code'] === 'not_found' ? true : undefined),
      RELOAD_DEADLINE_MS,
      'app gone',
    );
    assert.equal((await lookaside.resolve({ service: 'newcomer' })).address, '10.2.1.1:50051');
  });

  it('keeps serving the last good endpoints through a broken edit (invalid YAML), logs it, and takes the fix', async function () {
    const fromLog = lookaside.process.logs.length;
    await lookaside.rewriteEndpoints('services:\n  - name: app\n    endpoints: [ {address: "10.2.0.9:50051"\n');
    const logged = await lookaside.waitForLogAfter(fromLog, isBrokenFileLine, RELOAD_DEADLINE_MS);
    assert.match(String(logged['err']), /not valid YAML/);
    assert.equal(logged['level'], 50, 'logged at error level');

    assert.deepEqual(await servedAddresses(lookaside), ['10.2.0.1:50051']);
    assert.ok(lookaside.alive);

    await lookaside.rewriteEndpoints(app('10.2.0.5:50051'));
    await untilServing(lookaside, ['10.2.0.5:50051']);
  });

  it('keeps serving the last good endpoints through a broken edit (a bad address), logs where, and takes the fix', async function () {
    const fromLog = lookaside.process.logs.length;
    await lookaside.replaceEndpoints(app('10.2.0.6:50051', '10.2.0.999:50051'));
    const logged = await lookaside.waitForLogAfter(fromLog, isBrokenFileLine, RELOAD_DEADLINE_MS);
    assert.match(String(logged['err']), /services\[0\]\.endpoints\[1\]\.address: "10\.2\.0\.999:50051" is not "ip:port"/);

    assert.deepEqual(await servedAddresses(lookaside), ['10.2.0.1:50051']);

    await lookaside.replaceEndpoints(app('10.2.0.6:50051', '10.2.0.7:50051'));
    await untilServing(lookaside, ['10.2.0.6:50051', '10.2.0.7:50051']);
  });

  it('keeps serving the last good endpoints through a file left with only a comment (a cut-off write), and takes `services: []` as none', async function () {
    const fromLog = lookaside.process.logs.length;
    await lookaside.rewriteEndpoints('# Endpoints for running the lookaside without a cluster (DISCOVERY=file).\n# Edit while it runs.\n#\n');
    const logged = await lookaside.waitForLogAfter(
      fromLog,
      (line) => line.msg === 'endpoints file has no services list; keeping the last good content',
      RELOAD_DEADLINE_MS,
    );
    assert.equal(logged['level'], 40, 'logged as a warning');
    assert.deepEqual(await servedAddresses(lookaside), ['10.2.0.1:50051']);

    await lookaside.rewriteEndpoints('# none for now\nservices: []\n');
    await eventually(
      async () => ((await lookaside.call('lookaside.v1.Lookaside/Resolve', { service: 'app' })).body?.['code'] === 'not_found' ? true : undefined),
      RELOAD_DEADLINE_MS,
      'app gone after `services: []`',
    );
  });

  it('keeps serving the last good endpoints while the file is missing, and takes it back when it returns', async function () {
    const fromLog = lookaside.process.logs.length;
    await rm(lookaside.endpointsFile);
    await lookaside.waitForLogAfter(
      fromLog,
      (line) => line.msg === 'cannot read the endpoints file; keeping the last good content',
      RELOAD_DEADLINE_MS,
    );
    assert.deepEqual(await servedAddresses(lookaside), ['10.2.0.1:50051']);

    await lookaside.replaceEndpoints(app('10.2.0.8:50051'));
    await untilServing(lookaside, ['10.2.0.8:50051']);
  });
});
