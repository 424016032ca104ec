import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, runCommand } from '../support/process.js';

/**
 * test/cache-build.sh, the build-then-swap the tool caches share, and the
 * kube binaries' cache key: run with a fake `go` (its builds write a marker
 * file or fail), in a scratch cache, so nothing real is built or touched.
 */
describe('test/cache-build.sh (the tool caches of test/kube and test/xds-go-client)', function () {
  this.timeout(60_000);
  let scratch: string;
  let bin: string;

  beforeEach(function () {
    scratch = mkdtempSync(join(tmpdir(), 'cache-build-'));
    bin = join(scratch, 'bin');
    mkdirSync(bin);
    // A go that names one version and whose builds fail fast, saying so.
    writeFileSync(join(bin, 'go'), '#!/bin/sh\nif [ "$1" = version ]; then echo "go version go0.0 fake"; exit 0; fi\necho "fake go: $*" >&2\nexit 7\n');
    chmodSync(join(bin, 'go'), 0o755);
  });

  afterEach(function () {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Runs bash with `script` after sourcing test/cache-build.sh, the cache in the scratch directory. */
  function shell(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = [`PATH=${bin}:/usr/bin:/bin`, `LOOKASIDE_KUBE_CACHE=${join(scratch, 'cache')}`, `HOME=${scratch}`];
    return runCommand('env', [...env, 'bash', '-c', `set -euo pipefail; source ${join(REPO_ROOT, 'test/cache-build.sh')}; ${script}`]);
  }

  const BUILD = 'built=0; complete() { [[ -f $1/out ]]; }; build() { built=$((built + 1)); echo made > "$1/out"; };';

  it('builds into a fresh directory, swaps it in with its STAMP and RECIPE, then reuses it', async function () {
    const dir = join(scratch, 'cache', 'tool');
    const first = await shell(`${BUILD} cache_build "${dir}" s1 r1 complete build >/dev/null; echo "built $built"`);
    assert.equal(first.stdout.trim(), 'built 1', first.stderr);
    assert.equal(readFileSync(join(dir, 'STAMP'), 'utf8').trim(), 's1');
    assert.equal(readFileSync(join(dir, 'RECIPE'), 'utf8').trim(), 'r1');
    const again = await shell(`${BUILD} cache_build "${dir}" s1 r1 complete build; echo "built $built"`);
    assert.equal(again.stdout.trim(), `${dir}\nbuilt 0`, 'reused, and the directory printed');
  });

  it('rebuilds when the inputs (STAMP) or the recipe (RECIPE) change', async function () {
    const dir = join(scratch, 'cache', 'tool');
    await shell(`${BUILD} cache_build "${dir}" s1 r1 complete build`);
    for (const [stamp, recipe] of [['s2', 'r1'], ['s2', 'r2']]) {
      const run = await shell(`${BUILD} cache_build "${dir}" ${stamp} ${recipe} complete build >/dev/null; echo "built $built"`);
      assert.equal(run.stdout.trim(), 'built 1', `STAMP ${stamp}, RECIPE ${recipe}`);
    }
  });

  it('keeps a directory made before recipes were recorded (no RECIPE file), and records the recipe', async function () {
    const dir = join(scratch, 'cache', 'tool');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'STAMP'), 's1\n');
    writeFileSync(join(dir, 'out'), 'made\n');
    const run = await shell(`${BUILD} cache_build "${dir}" s1 r1 complete build >/dev/null; echo "built $built"`);
    assert.equal(run.stdout.trim(), 'built 0');
    assert.equal(readFileSync(join(dir, 'STAMP'), 'utf8').trim(), 's1', 'STAMP untouched, so older scripts keep reusing it');
    assert.equal(readFileSync(join(dir, 'RECIPE'), 'utf8').trim(), 'r1');
  });

  it('leaves the cached directory and no temporary one behind when a build fails', async function () {
    const dir = join(scratch, 'cache', 'tool');
    await shell(`${BUILD} cache_build "${dir}" s1 r1 complete build`);
    const failed = await shell(`complete() { false; }; fails() { echo half > "$1/out"; return 3; }; cache_build "${dir}" s2 r1 complete fails`);
    assert.notEqual(failed.code, 0);
    assert.equal(readFileSync(join(dir, 'STAMP'), 'utf8').trim(), 's1', 'the old build is still in place');
    assert.deepEqual(readdirSync(join(scratch, 'cache')), ['tool']);
  });

  it("rebuilds the kube binaries when test/kube/build.sh itself changes, and only then", async function () {
    // A copy of test/kube beside a copy of the shared file, as in the repository.
    const copy = join(scratch, 'repo');
    cpSync(join(REPO_ROOT, 'test/kube'), join(copy, 'kube'), { recursive: true });
    cpSync(join(REPO_ROOT, 'test/cache-build.sh'), join(copy, 'cache-build.sh'));
    const script = join(copy, 'kube/build.sh');
    const cached = join(scratch, 'cache', `kube-${readFileSync(join(copy, 'kube/VERSION'), 'utf8').trim()}`);
    // What a finished build leaves, keyed as this build.sh keys it (learnt from a first run that fails at `go build`).
    const first = await shell(`${script}`);
    assert.match(first.stderr, /building kube-apiserver/);
    assert.ok(!existsSync(cached), 'a failed build leaves nothing');
    const key = await shell(`here=${join(copy, 'kube')}; { go version; cat "$here"/apiserver/go.{mod,sum} "$here"/etcd/go.{mod,sum}; } | sha256sum | cut -c1-16; file_hash "$here/build.sh"`);
    const [stamp, recipe] = key.stdout.trim().split('\n');
    mkdirSync(cached, { recursive: true });
    writeFileSync(join(cached, 'STAMP'), `${stamp}\n`);
    writeFileSync(join(cached, 'RECIPE'), `${recipe}\n`);
    for (const binary of ['kube-apiserver', 'kubectl', 'etcd']) writeFileSync(join(cached, binary), '', { mode: 0o755 });

    const reused = await shell(`${script}`);
    assert.equal(reused.code, 0, reused.stderr);
    assert.equal(reused.stdout.trim(), cached);

    writeFileSync(script, `${readFileSync(script, 'utf8')}# a changed recipe\n`);
    const changed = await shell(`${script}`);
    assert.notEqual(changed.code, 0, 'it built (with the fake go, which fails)');
    assert.match(changed.stderr, /building kube-apiserver/);
  });
});
