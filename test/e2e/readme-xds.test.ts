import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { EndpointsFile, Processes, startGreetServer, startLookaside, type GreetServerHandle } from '../support/greet-stack.js';
import { REPO_ROOT } from '../support/process.js';
import { xdsBootstrap } from '../support/xds-greet-client.js';

/** The fenced blocks of `language` in README's "Any language: xDS" section. */
function readmeBlocks(language: string): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Any language: xDS\n');
  assert.ok(start >= 0, 'README has no "Any language: xDS" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1] as string);
}

describe('README "Any language: xDS": the clients it shows are real', function () {
  this.timeout(90_000);
  const processes = new Processes();
  const servers: GreetServerHandle[] = [];
  let file: EndpointsFile | undefined;
  const script = join(REPO_ROOT, 'dist', 'readme-xds-client.mjs');

  after(async () => {
    await processes.stopAll();
    await file?.remove();
    await rm(script, { force: true });
  });

  it('runs the Node client block against a lookaside: six calls, each pod twice, in turn', async () => {
    const [block] = readmeBlocks('js');
    assert.ok(block !== undefined, 'no js block');
    servers.push(...(await Promise.all(['greet-1', 'greet-2', 'greet-3'].map((name) => startGreetServer(processes, name)))));
    file = await EndpointsFile.create('greetserver', servers);
    const lookaside = await startLookaside(processes, file);
    await writeFile(script, block);
    const target = `xds:///greetserver.default.svc.cluster.local:${servers[0]?.port}`;
    // As a reader would run it: from the repository (the proto's path), the bootstrap in the environment.
    const bootstrap = xdsBootstrap(`127.0.0.1:${lookaside.port}`, 'readme-node-client');
    const { stdout } = await promisify(execFile)(process.execPath, [script, target], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap },
      timeout: 60_000,
    });
    const pods = stdout.trim().split('\n');
    assert.equal(pods.length, 6, stdout);
    // grpc-js starts calling as soon as one pod is connected; by the last three it rotates over all.
    assert.deepEqual(pods.slice(3).sort(), ['greet-1', 'greet-2', 'greet-3'], stdout);
  });

  it('shows Go lines that are all in the Go interop client (test/xds-go-client)', () => {
    const [block] = readmeBlocks('go');
    assert.ok(block !== undefined, 'no go block');
    const source = ['main.go', 'codec.go'].map((name) => readFileSync(join(REPO_ROOT, 'test/xds-go-client', name), 'utf8')).join('\n');
    const lines = new Set(source.split('\n').map((line) => line.trim()));
    const shown = block.split('\n').map((line) => line.trim()).filter((line) => line !== '' && line !== 'import (' && line !== ')');
    assert.ok(shown.length >= 5);
    assert.deepEqual(shown.filter((line) => !lines.has(line)), [], 'README lines not in test/xds-go-client');
  });
});
