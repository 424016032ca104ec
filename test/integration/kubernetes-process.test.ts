import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FIRST_LIST_WAIT_LIMIT_MS } from '../../src/lookaside/resolver.js';
import { bufCurl } from '../support/buf-curl.js';
import { endpointSlice, FakeKubeApi, writeKubeconfigFile } from '../support/fake-kube-api.js';
import { eventually, REPO_ROOT, ServiceProcess, unusedPort } from '../support/process.js';

/**
 * The built lookaside process (`DISCOVERY=kubernetes`, a kubeconfig file)
 * against the fake API server, called with `buf curl` as an operator would.
 */

const V1_RESOLVE = 'lookaside.v1.Lookaside/Resolve';
const SEED_RESOLVE = 'lookaside.Lookaside/Resolve';

describe('the lookaside process with DISCOVERY=kubernetes', function () {
  let fake: FakeKubeApi;
  let directory: string;
  let processes: ServiceProcess[];

  /** Starts dist/src/lookaside/main.js with a kubeconfig file for `server`; returns its gRPC target. */
  async function startLookaside(
    server: string,
    extra: { env?: Record<string, string>; nodeArgs?: string[] } = {},
  ): Promise<{ lookaside: ServiceProcess; target: string }> {
    const kubeconfig = writeKubeconfigFile(directory, server, fake.token);
    const env = {
      DISCOVERY: 'kubernetes',
      KUBECONFIG: kubeconfig,
      LB_HOST: '127.0.0.1',
      LB_PORT: '0',
      METRICS_PORT: '0',
      POD_NAMESPACE: 'default',
      ...extra.env,
    };
    const lookaside = ServiceProcess.start('src/lookaside/main.js', env, extra.nodeArgs);
    processes.push(lookaside);
    const listening = await lookaside.waitUntilListening();
    return { lookaside, target: `127.0.0.1:${String(listening['port'])}` };
  }

  beforeEach(async function () {
    fake = await FakeKubeApi.start();
    directory = mkdtempSync(join(tmpdir(), 'lookaside-kube-'));
    processes = [];
  });

  afterEach(async function () {
    for (const lookaside of processes) await lookaside.stop();
    await fake.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('resolves through lookaside.v1 and the seed lookaside.Lookaside API, and follows changes', async function () {
    fake.applySlice(
      'default',
      endpointSlice({
        service: 'greetserver',
        name: 'greetserver-x7k2p',
        endpoints: [
          { ip: '10.244.0.11', pod: 'greetserver-5d8c7-l8kmv', node: 'minikube', zone: 'zone-a' },
          { ip: '10.244.0.12', pod: 'greetserver-5d8c7-q2w9z', node: 'minikube', zone: 'zone-a' },
        ],
      }),
    );
    const { lookaside, target } = await startLookaside(fake.url);

    const first = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default', policy: 'ROUND_ROBIN' });
    assert.equal(first.exitCode, 0, first.stderr);
    assert.deepEqual(first.body, {
      address: '10.244.0.11:50051',
      ip: '10.244.0.11',
      port: 50051,
      podName: 'greetserver-5d8c7-l8kmv',
      zone: 'zone-a',
      nodeName: 'minikube',
      readyEndpoints: 2,
    });
    const second = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default', policy: 'ROUND_ROBIN' });
    assert.equal(second.body?.['address'], '10.244.0.12:50051', 'round robin moves on');

    const seed = await bufCurl(target, SEED_RESOLVE, { service: 'greetserver', namespace: 'default', router: 'ROUNDROBIN' });
    assert.equal(seed.exitCode, 0, seed.stderr);
    assert.deepEqual(seed.body, { address: '10.244.0.11' }, 'the seed API answers a pod IP without a port');

    assert.equal(fake.lastRequest('list')?.authorization, `Bearer ${fake.token}`, 'the token from the kubeconfig file');
    await eventually(() => (fake.openWatchCount === 1 ? true : undefined), 5_000, 'the watch to open');

    // A scale-up through the watch: the process logs when its cache changed.
    const writtenAtMs = Date.now();
    fake.applySlice(
      'default',
      endpointSlice({ service: 'greetserver', name: 'greetserver-m4n8r', endpoints: [{ ip: '10.244.0.13', pod: 'greetserver-5d8c7-p3r7t' }] }),
    );
    const changed = await lookaside.waitForLog((line) => line.msg === 'endpoints changed' && line['ready'] === 3);
    const loggedAtMs = Date.parse(String(changed['time']));
    console.log(`      API write → lookaside process cache (log timestamp, ms resolution): ${loggedAtMs - writtenAtMs} ms`);
    const after = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default' });
    assert.equal(after.body?.['readyEndpoints'], 3);
  });

  it('keeps @kubernetes/client-node (about 70 MB of memory) out of its own process: a short-lived reader process loads it', async function () {
    fake.applySlice('default', endpointSlice({ service: 'greetserver', endpoints: [{ ip: '10.244.0.11' }] }));
    const modulesFile = join(directory, 'modules.tsv');
    const { target } = await startLookaside(fake.url, {
      env: { LOOKASIDE_MODULES_FILE: modulesFile },
      nodeArgs: ['--import', `${REPO_ROOT}dist/test/support/record-modules.js`],
    });
    const result = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default' });
    assert.equal(result.exitCode, 0, result.stderr);

    const edges = readFileSync(modulesFile, 'utf8').trimEnd().split('\n').map((line) => line.split('\t') as [string, string]);
    const reachable = (root: string): Set<string> => {
      const seen = new Set([root]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [from, to] of edges) {
          if (seen.has(from) && !seen.has(to)) grew = seen.add(to) !== undefined;
        }
      }
      return seen;
    };
    const roots = edges.filter(([from]) => from === '').map(([, to]) => to);
    const main = roots.find((url) => url.endsWith('/dist/src/lookaside/main.js'));
    assert.ok(main !== undefined, `main.js not among the roots: ${roots.join(', ')}`);
    const loaded = [...reachable(main)];
    assert.ok(loaded.some((url) => url.includes('/@grpc/grpc-js/')), 'the recorder sees packages main.js loads');
    assert.deepEqual(loaded.filter((url) => url.includes('/@kubernetes/client-node/')), [], 'the lookaside imports client-node');
    // The one other thread reads the xDS protos' descriptors at start-up (xds-descriptors.ts), and client-node is not among what it loads.
    const others = roots.filter((url) => url !== main);
    assert.deepEqual(others.map((url) => url.slice(url.indexOf('/dist/') + 1)), ['dist/src/lookaside/xds/xds-descriptors-worker.js'], 'and nothing else runs in its process');
    for (const other of others) assert.deepEqual([...reachable(other)].filter((url) => url.includes('/@kubernetes/client-node/')), [], `${other} imports client-node`);
  });

  it('answers unavailable, saying why, when the API server is down on the first Resolve', async function () {
    const { target } = await startLookaside(`http://127.0.0.1:${await unusedPort()}`);
    const startedMs = Date.now();
    const result = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default' });
    const elapsedMs = Date.now() - startedMs;

    assert.notEqual(result.exitCode, 0);
    assert.equal(result.body?.['code'], 'unavailable', result.stderr);
    // The failed list itself is the answer, not the end of the first-list wait.
    assert.match(String(result.body?.['message']), /cannot read endpoints of default\/greetserver: the API server is unreachable: .*ECONNREFUSED/);
    assert.ok(elapsedMs < FIRST_LIST_WAIT_LIMIT_MS, `answered after ${elapsedMs} ms, only once the wait limit ran out`);
  });

  it('answers permission_denied when RBAC forbids listing endpointslices', async function () {
    fake.failNext(1_000, 403, { kinds: ['list'] });
    const { target } = await startLookaside(fake.url);
    const result = await bufCurl(target, V1_RESOLVE, { service: 'secrets', namespace: 'default' });

    assert.equal(result.body?.['code'], 'permission_denied', result.stderr);
    assert.match(String(result.body?.['message']), /refused to list endpointslices \(HTTP 403\).*cannot list resource "endpointslices".*RBAC/);
  });

  it('exits 0 promptly on SIGTERM and closes its watch', async function () {
    fake.applySlice('default', endpointSlice({ service: 'greetserver', endpoints: [{ ip: '10.244.0.11' }] }));
    const { lookaside, target } = await startLookaside(fake.url);
    const result = await bufCurl(target, V1_RESOLVE, { service: 'greetserver', namespace: 'default' });
    assert.equal(result.exitCode, 0, result.stderr);
    await eventually(() => (fake.openWatchCount === 1 ? true : undefined), 5_000, 'the watch to open');

    // Killed with SIGKILL (exit code null) if it has not exited by then, well before
    // SHUTDOWN_GRACE_SECONDS (10 s): exiting 0 means the watch did not hold it up.
    const exitCode = await lookaside.stop(8_000);
    assert.equal(exitCode, 0, lookaside.stderr);
    await eventually(() => (fake.openWatchCount === 0 ? true : undefined), 2_000, 'the watch to close');
  });
});
