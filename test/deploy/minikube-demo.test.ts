import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { EndpointsFile, Processes, startGateway, startGreetServer, startLookaside } from '../support/greet-stack.js';
import { REPO_ROOT } from '../support/process.js';
import { named, render, requireKubectl, type Service } from './support/manifests.js';

/**
 * deploy/minikube-demo.sh (make minikube-demo) without a cluster: kubectl is a
 * stub that records its arguments, and the "port-forward" leads to a real
 * gateway, lookaside and three greet servers on loopback. What is checked is
 * the script's own work: the kubectl steps in order, waiting for the gateway,
 * and counting the answers per pod.
 */

const run = promisify(execFile);
/** The stub renders overlays with the real kubectl, found before the stub shadows it. */
const realKubectl = execFileSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
const PODS = ['greetserver-7c9d8f6b5-2xk9p', 'greetserver-7c9d8f6b5-9mzqf', 'greetserver-7c9d8f6b5-ltw4d'];
const STUB_KUBECTL = `#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_LOG"
case "$1" in
  kustomize) exec "$REAL_KUBECTL" "$@" ;;
  get) if [[ -n \${KUBECTL_EXISTING:-} ]]; then printf 'deployment.apps/%s\\n' greetclient greetserver lookaside; fi ;;
  port-forward) exec sleep 60 ;;
esac
`;

describe('make minikube-demo (deploy/minikube-demo.sh), kubectl stubbed, gateway on loopback', function () {
  this.timeout(30_000);
  const processes = new Processes();
  let scratch: string;
  let file: EndpointsFile;
  let gatewayPort: number;

  before(async function () {
    requireKubectl(this);
    scratch = mkdtempSync(join(tmpdir(), 'minikube-demo-'));
    writeFileSync(join(scratch, 'kubectl'), STUB_KUBECTL);
    chmodSync(join(scratch, 'kubectl'), 0o755);
    const servers = await Promise.all(PODS.map((pod) => startGreetServer(processes, pod)));
    file = await EndpointsFile.create('greetserver', servers);
    const lookaside = await startLookaside(processes, file);
    gatewayPort = (await startGateway(processes, { LB_ADDR: `127.0.0.1:${lookaside.port}` })).port;
  });

  after(async function () {
    await processes.stopAll();
    await file?.remove();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  async function demo(existing: boolean, extra: Record<string, string> = {}): Promise<{ stdout: string; kubectl: string[] }> {
    const log = join(scratch, `kubectl-${Object.keys(extra).length}-${existing ? 'again' : 'first'}.log`);
    const { stdout } = await run('bash', [join(REPO_ROOT, 'deploy/minikube-demo.sh')], {
      env: {
        PATH: `${scratch}:${process.env['PATH'] ?? ''}`,
        KUBECTL_LOG: log,
        REAL_KUBECTL: realKubectl,
        KUBECTL_EXISTING: existing ? '1' : '',
        LOCAL_PORT: String(gatewayPort),
        REQUESTS: '6',
        ...extra,
      },
      timeout: 20_000,
    });
    return { stdout, kubectl: readFileSync(log, 'utf8').trim().split('\n') };
  }

  it('applies the overlay, waits for the rollouts of its Deployments, forwards the gateway and counts the answers per pod', async function () {
    const { stdout, kubectl } = await demo(false);
    const gatewayServicePort = named<Service>(render('deploy/overlays/minikube'), 'Service', 'greetclient').spec.ports[0]?.port;
    assert.deepEqual(kubectl, [
      'kustomize deploy/overlays/minikube',
      'get deployment greetclient greetserver lookaside -o name --ignore-not-found',
      'apply -k deploy/overlays/minikube',
      'rollout status deployment/greetclient --timeout=180s',
      'rollout status deployment/greetserver --timeout=180s',
      'rollout status deployment/lookaside --timeout=180s',
      `port-forward service/greetclient ${gatewayPort}:${gatewayServicePort}`,
    ]);
    assert.match(stdout, new RegExp(`^answers per pod \\(6 requests: POST http://127\\.0\\.0\\.1:${gatewayPort}/greet\\):$`, 'm'));
    const counts = [...stdout.matchAll(/^\s+(\d+) (\S+)$/gm)].map((match) => [match[2], Number(match[1])] as const);
    assert.deepEqual(counts.map(([pod]) => pod), PODS, stdout);
    assert.equal(counts.reduce((sum, [, count]) => sum + count, 0), 6);
  });

  it('restarts the Deployments on a second run, so a rebuilt image under the same tag is rolled out', async function () {
    const { kubectl } = await demo(true);
    assert.equal(kubectl[2], 'apply -k deploy/overlays/minikube');
    assert.equal(kubectl[3], 'rollout restart deployment/greetclient deployment/greetserver deployment/lookaside');
    assert.equal(kubectl[4], 'rollout status deployment/greetclient --timeout=180s');
  });

  it("waits for the overlay's own Deployments: the canary overlay's greetserver-v1 and greetserver-v2", async function () {
    const { kubectl } = await demo(false, { OVERLAY: 'deploy/overlays/canary' });
    assert.deepEqual(kubectl.filter((line) => line.startsWith('rollout')), [
      'rollout status deployment/greetclient --timeout=180s',
      'rollout status deployment/greetserver-v1 --timeout=180s',
      'rollout status deployment/greetserver-v2 --timeout=180s',
      'rollout status deployment/lookaside --timeout=180s',
    ]);
  });

  it('only sends and counts with APPLY=0 (make minikube-requests), leaving a scaled Deployment as it is', async function () {
    const { stdout, kubectl } = await demo(true, { APPLY: '0' });
    assert.deepEqual(kubectl.map((line) => line.split(' ')[0]), ['port-forward']);
    assert.equal([...stdout.matchAll(/^\s+(\d+) (\S+)$/gm)].length, PODS.length, stdout);
  });
});
