import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { postGreet } from '../../support/http.js';
import { eventually, ServiceProcess } from '../../support/process.js';
import { countOf } from '../../support/routed-resolves.js';

/** The pod that answered one greeting; fails unless the answer is a 200 greeting naming its pod. */
async function greetedBy(port: number): Promise<string> {
  const answer = await postGreet(port);
  assert.equal(answer.status, 200, answer.text);
  const pod = answer.json?.['pod_name'];
  assert.ok(typeof pod === 'string' && /^greet-\d$/.test(pod), answer.text);
  assert.match(String(answer.json?.['result']), new RegExp(`^Hello, Ada Lovelace from pod: name\\(${pod}\\)`));
  return pod;
}

/** PIDs of the launcher's children (Linux `ps`). */
function childPids(parentPid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(parentPid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the local demo launcher (make demo)', function () {
  this.timeout(60_000);
  let directory = '';
  let demo: ServiceProcess | undefined;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'greet-demo-'));
  });

  afterEach(async () => {
    if (demo !== undefined) {
      const pid = demo.child.pid ?? 0;
      const children = childPids(pid);
      await demo.stop();
      for (const child of children) if (isAlive(child)) process.kill(child, 'SIGKILL');
    }
    demo = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  /** Starts the launcher on free ports and returns the gateway's port once the banner is out. */
  async function startDemo(env: Record<string, string> = {}): Promise<{ process: ServiceProcess; gatewayPort: number; endpointsFile: string }> {
    const endpointsFile = join(directory, 'endpoints.yaml');
    demo = ServiceProcess.start('src/demo/main.js', { GREET_PORTS: '0,0,0', LB_PORT: '0', GATEWAY_PORT: '0', ENDPOINTS_FILE: endpointsFile, ...env });
    const banner = await demo.waitForLog((line) => String(line.msg).includes('curl -s -X POST http://localhost:'), 30_000);
    const gatewayPort = Number(/localhost:(\d+)\/greet/.exec(String(banner.msg))?.[1]);
    return { process: demo, gatewayPort, endpointsFile };
  }

  it('starts three pods behind the gateway, each request answered by the next pod', async () => {
    const { gatewayPort } = await startDemo();
    const pods = [];
    for (let i = 0; i < 3; i += 1) pods.push(await greetedBy(gatewayPort));
    assert.deepEqual([...pods].sort(), ['greet-1', 'greet-2', 'greet-3']);
  });

  it('make demo CANARY=10: a fourth server, version v2, takes exactly 100 of 1,000 requests through the gateway (a GRPCRoute)', async () => {
    const { gatewayPort } = await startDemo({ CANARY: '10' });
    const versions: string[] = [];
    for (let batch = 0; batch < 100; batch += 1) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => postGreet(gatewayPort)));
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text);
        versions.push(/, version\((v\d)\)\.$/.exec(String(answer.json?.['result']))?.[1] ?? String(answer.json?.['result']));
      }
    }
    assert.deepEqual(countOf(versions), { v1: 900, v2: 100 });
  });

  it('changes the rotation live when the endpoints file is edited', async () => {
    const { gatewayPort, endpointsFile } = await startDemo();
    const text = await readFile(endpointsFile, 'utf8');
    await writeFile(endpointsFile, text.split('\n').filter((line) => !line.includes('pod: greet-2')).join('\n'));
    await eventually(
      async () => {
        const pods = new Set<string>();
        for (let i = 0; i < 6; i += 1) pods.add(await greetedBy(gatewayPort));
        // Every answer a greeting from a pod still listed, and both of them in turn.
        return pods.size === 2 && pods.has('greet-1') && pods.has('greet-3') ? pods : undefined;
      },
      5_000,
      'greet-2 to leave the rotation',
    );
  });

  it('with BALANCING=xds (make demo BALANCING=xds), balances through the lookaside\'s xDS and follows the file', async () => {
    const { process: launcher, gatewayPort, endpointsFile } = await startDemo({ BALANCING: 'xds' });
    assert.ok(launcher.logs.some((line) => String(line.msg).includes('BALANCING=xds')), 'the banner names the mode');
    const readyz = await (await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).json() as Record<string, unknown>;
    assert.equal(readyz['mode'], 'xds');
    const pods = [];
    for (let i = 0; i < 3; i += 1) pods.push(await greetedBy(gatewayPort));
    assert.deepEqual([...pods].sort(), ['greet-1', 'greet-2', 'greet-3']);
    const text = await readFile(endpointsFile, 'utf8');
    await writeFile(endpointsFile, text.split('\n').filter((line) => !line.includes('pod: greet-2')).join('\n'));
    await eventually(
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i += 1) seen.add(await greetedBy(gatewayPort));
        return seen.size === 2 && !seen.has('greet-2') ? seen : undefined;
      },
      10_000,
      'greet-2 to leave the rotation',
    );
  });

  it('refuses a BALANCING that is no mode, naming the variable', async () => {
    const launcher = ServiceProcess.start('src/demo/main.js', { BALANCING: 'dns', GREET_PORTS: '0,0,0', LB_PORT: '0', GATEWAY_PORT: '0' });
    assert.equal(await launcher.waitForExit(), 2);
    assert.match(launcher.stderr, /BALANCING: must be one of lookaside, round_robin, none, xds, got "dns"/);
  });

  it('stops every child on SIGINT and exits 0, leaving no process behind', async () => {
    const { process: launcher } = await startDemo();
    const children = childPids(launcher.child.pid ?? 0);
    assert.equal(children.length, 5, `expected 3 greet servers, the lookaside and the gateway, got ${children.length}`);
    launcher.child.kill('SIGINT');
    assert.equal(await launcher.waitForExit(20_000), 0);
    assert.deepEqual(children.filter(isAlive), []);
  });

  it('stops the rest and exits non-zero when one child dies', async () => {
    const { process: launcher } = await startDemo();
    const children = childPids(launcher.child.pid ?? 0);
    process.kill(children[0] as number, 'SIGKILL');
    assert.equal(await launcher.waitForExit(20_000), 1);
    assert.deepEqual(children.filter(isAlive), []);
    assert.ok(launcher.logs.some((line) => String(line.msg).includes('exited unexpectedly')));
  });
});
