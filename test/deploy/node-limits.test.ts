import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, runCommand } from '../support/process.js';

const SCRIPT = join(REPO_ROOT, 'deploy/node-limits.sh');

describe('deploy/node-limits.sh (the image entrypoint)', function () {
  let scratch: string;

  before(function () {
    scratch = mkdtempSync(join(tmpdir(), 'node-limits-'));
    // A "node" that prints the arguments it was started with.
    writeFileSync(join(scratch, 'node'), '#!/bin/sh\necho "$@"\n');
    chmodSync(join(scratch, 'node'), 0o755);
  });

  after(function () {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** What node is started with when the cgroup says `limit` (undefined: no file). */
  async function startedWith(limit: string | undefined, ...args: string[]): Promise<string> {
    const file = join(scratch, 'memory.max');
    rmSync(file, { force: true });
    if (limit !== undefined) writeFileSync(file, `${limit}\n`);
    const { code, stdout, stderr } = await runCommand('env', [`PATH=${scratch}:/usr/bin:/bin`, `NODE_LIMITS_MEMORY_FILE=${file}`, 'sh', SCRIPT, ...args]);
    assert.equal(code, 0, stderr);
    return stdout.trim();
  }

  it('sizes the heap from a 256Mi limit: half for the old generation, a 2 x 4 MB young one, 15% growth', async function () {
    assert.equal(
      await startedWith(String(256 * 2 ** 20), 'dist/src/lookaside/main.js'),
      '--max-old-space-size=128 --max-semi-space-size=4 --heap-growing-percent=15 dist/src/lookaside/main.js',
    );
  });

  it('scales with the limit, the young generation within 1–16 MB', async function () {
    assert.equal(await startedWith(String(2 * 2 ** 30), 'x.js'), '--max-old-space-size=1024 --max-semi-space-size=16 --heap-growing-percent=15 x.js');
    assert.equal(await startedWith(String(32 * 2 ** 20), 'x.js'), '--max-old-space-size=16 --max-semi-space-size=1 --heap-growing-percent=15 x.js');
  });

  it("keeps node's defaults without a limit: cgroup v2 \"max\", v1's huge number, no file", async function () {
    assert.equal(await startedWith('max', 'x.js'), 'x.js');
    assert.equal(await startedWith('9223372036854771712', 'x.js'), 'x.js');
    assert.equal(await startedWith(undefined, 'x.js'), 'x.js');
  });

  it('puts the flags the container gives after its own, so they win', async function () {
    assert.equal(await startedWith(String(256 * 2 ** 20), '--max-semi-space-size=8', 'x.js'), '--max-old-space-size=128 --max-semi-space-size=4 --heap-growing-percent=15 --max-semi-space-size=8 x.js');
  });

  it('prints its flags with --print-flags (for the benchmarks)', async function () {
    assert.equal(await startedWith(String(256 * 2 ** 20), '--print-flags'), '--max-old-space-size=128 --max-semi-space-size=4 --heap-growing-percent=15');
  });
});
