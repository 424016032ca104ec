import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ENDPOINTS_FILE_MAX_BYTES } from '../../src/lookaside/discovery/file.js';
import { bufCurlStream, type BufCurlStream } from '../support/buf-curl.js';
import { corruptKubeconfig, FAKE_KEY, FAKE_TOKEN } from '../support/kubeconfigs.js';
import { eventually } from '../support/process.js';
import { STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { endpointsYaml, HEALTH_WATCH, ProcessGroup } from './support/lookaside.js';

/** Statuses in the order a Health/Watch stream printed them. */
function watchedStatuses(output: string): string[] {
  return [...output.matchAll(/"status":\s*"([A-Z_]+)"/g)].map((match) => match[1] ?? '');
}

describe('lookaside end to end: start-up and shutdown', function () {
  const group = new ProcessGroup();
  let directory: string;
  let goodFile: string;

  before(async function () {
    directory = await mkdtemp(join(tmpdir(), 'lookaside-e2e-lifecycle-'));
    goodFile = join(directory, 'endpoints.yaml');
    await writeFile(goodFile, endpointsYaml(STANDARD_SERVICES));
  });

  afterEach(async function () {
    await group.stopAll();
  });

  after(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  describe('refuses to start on a bad configuration, exiting 1 with a message naming the variable', function () {
    /** Starts with `env` on loopback and free ports; returns stderr after asserting exit code 1. */
    async function failsToStart(env: Record<string, string>): Promise<string> {
      const process = group.startRaw({ LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', ...env });
      const code = await process.waitForExit();
      assert.equal(code, 1, `exit code; stderr: ${process.stderr}`);
      assert.ok(!process.logs.some((line) => line.msg === 'listening'), 'never listened');
      return process.stderr;
    }

    it('LB_PORT that is not a number', async function () {
      const stderr = await failsToStart({ ENDPOINTS_FILE: goodFile, LB_PORT: 'abc' });
      assert.match(stderr, /LB_PORT: must be a whole number from 0 to 65535, got "abc"/);
    });

    it('DEFAULT_POLICY that is not a policy', async function () {
      const stderr = await failsToStart({ ENDPOINTS_FILE: goodFile, DEFAULT_POLICY: 'fastest' });
      assert.match(stderr, /DEFAULT_POLICY: must be one of round_robin, random, least_request, weighted_round_robin, got "fastest"/);
    });

    it('MAX_SERVICES of 0', async function () {
      const stderr = await failsToStart({ ENDPOINTS_FILE: goodFile, MAX_SERVICES: '0' });
      assert.match(stderr, /MAX_SERVICES: must be a whole number from 1 to/);
    });

    it('DISCOVERY=file without ENDPOINTS_FILE', async function () {
      const stderr = await failsToStart({ DISCOVERY: 'file' });
      assert.match(stderr, /ENDPOINTS_FILE: is required with DISCOVERY=file/);
    });

    it('ENDPOINTS_FILE pointing at a missing file', async function () {
      const missing = join(directory, 'missing.yaml');
      const stderr = await failsToStart({ ENDPOINTS_FILE: missing });
      assert.ok(stderr.includes(`ENDPOINTS_FILE: no file at ${missing}`), stderr);
    });

    it('ENDPOINTS_FILE that is broken from the start', async function () {
      const broken = join(directory, 'broken.yaml');
      await writeFile(broken, endpointsYaml([{ name: 'greet', endpoints: [{ address: 'greet:50051' }] }]));
      const stderr = await failsToStart({ ENDPOINTS_FILE: broken });
      assert.ok(stderr.includes(`ENDPOINTS_FILE: ${broken}: services[0].endpoints[0].address`), stderr);
    });

    it('DISCOVERY=kubernetes with neither a kubeconfig nor an in-cluster config', async function () {
      // HOME is /nonexistent and KUBECONFIG and KUBERNETES_SERVICE_HOST are unset in these processes.
      const stderr = await failsToStart({ DISCOVERY: 'kubernetes' });
      assert.match(stderr, /KUBECONFIG: is not set and there is no \/nonexistent\/\.kube\/config, and there is no in-cluster config/);
    });

    it('KUBECONFIG that is not valid YAML: names the file and the position, and prints none of its credentials', async function () {
      const kubeconfig = join(directory, 'kubeconfig');
      await writeFile(kubeconfig, corruptKubeconfig(), { mode: 0o600 });
      const process = group.startRaw({ LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', DISCOVERY: 'kubernetes', KUBECONFIG: kubeconfig });
      assert.equal(await process.waitForExit(), 1, process.stderr);
      assert.ok(process.stderr.includes(`KUBECONFIG: ${kubeconfig}: not valid YAML at line 11, column 4`), process.stderr);
      const logged = JSON.stringify(process.logs);
      assert.match(logged, /KUBECONFIG: .*not valid YAML at line 11/, 'the start-up failure is logged too');
      for (const secret of [FAKE_TOKEN, FAKE_KEY, 'mis-indented']) {
        assert.ok(!process.stderr.includes(secret), `stderr shows ${secret}: ${process.stderr}`);
        assert.ok(!logged.includes(secret), `the log shows ${secret}: ${logged}`);
      }
    });

    it('ENDPOINTS_FILE holding only comments (no services list)', async function () {
      const commented = join(directory, 'commented.yaml');
      await writeFile(commented, '# Endpoints for running the lookaside without a cluster.\n# Edit while it runs.\n');
      const stderr = await failsToStart({ ENDPOINTS_FILE: commented });
      assert.ok(stderr.includes(`ENDPOINTS_FILE: ${commented}: has no "services" list`), stderr);
    });

    it(`ENDPOINTS_FILE over ${ENDPOINTS_FILE_MAX_BYTES} bytes`, async function () {
      const large = join(directory, 'large.yaml');
      await writeFile(large, `services: []\n${'#'.repeat(ENDPOINTS_FILE_MAX_BYTES)}\n`);
      const stderr = await failsToStart({ ENDPOINTS_FILE: large });
      assert.match(stderr, new RegExp(`ENDPOINTS_FILE: .*large\\.yaml: is \\d+ bytes, more than the ${ENDPOINTS_FILE_MAX_BYTES} bytes`));
    });
  });

  describe('DEFAULT_POLICY', function () {
    it('applies DEFAULT_POLICY=random to POLICY_UNSPECIFIED, and an explicit policy still wins', async function () {
      const lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, DEFAULT_POLICY: 'random' } });
      const unspecified = await Promise.all([1, 2, 3].map(() => lookaside.resolve({ service: 'pair' })));
      for (const answer of unspecified) assert.match(answer.address, /^10\.0\.3\.[12]:50051$/);
      await lookaside.resolve({ service: 'pair', policy: 'ROUND_ROBIN' });

      const page = await lookaside.scrape();
      const count = (policy: string): number | undefined =>
        page.value('lookaside_resolve_total', { service: 'pair', policy, code: 'OK' });
      assert.equal(count('random'), 3);
      assert.equal(count('round_robin'), 1);
    });
  });

  describe('SIGTERM', function () {
    let watch: BufCurlStream | undefined;

    afterEach(function () {
      watch?.kill();
      watch = undefined;
    });

    it('exits 0 after logging "shutting down" and "stopped"', async function () {
      const lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
      await lookaside.resolve({ service: 'greet' });
      assert.equal(await lookaside.stop(), 0);
      const messages = lookaside.process.logs.map((line) => line.msg);
      assert.ok(messages.includes('shutting down'), JSON.stringify(messages));
      assert.ok(messages.includes('stopped'), JSON.stringify(messages));
      const stopped = lookaside.process.logs.find((line) => line.msg === 'grpc server stopped');
      assert.equal(stopped?.['result'], 'drained');
    });

    it('reports NOT_SERVING to health watchers while it drains, then exits 0 after SHUTDOWN_GRACE_SECONDS', async function () {
      const lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, SHUTDOWN_GRACE_SECONDS: '1' } });
      const stream = bufCurlStream(lookaside.target, HEALTH_WATCH, { service: 'lookaside.v1.Lookaside' });
      watch = stream;
      await eventually(() => (watchedStatuses(stream.output()).includes('SERVING') ? true : undefined), 10_000, 'SERVING on the watch');

      // The open Watch stream is an in-flight call, so the server drains until the grace period ends.
      assert.equal(await lookaside.stop(), 0);
      await stream.done;
      assert.deepEqual(watchedStatuses(stream.output()), ['SERVING', 'NOT_SERVING']);
      const stopped = lookaside.process.logs.find((line) => line.msg === 'grpc server stopped');
      assert.equal(stopped?.['result'], 'forced');
      assert.ok(lookaside.process.logs.some((line) => line.msg === 'stopped'));
    });
  });
});
