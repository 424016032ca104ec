import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';

import { httpCall, postGreet } from '../support/http.js';
import { REPO_ROOT, ServiceProcess } from '../support/process.js';
import {
  assembleRuntime,
  containerArgv,
  DockerIgnore,
  linkTree,
  envOf,
  execForm,
  instructions,
  readDockerfile,
  stageNamed,
  workdir,
  type Dockerfile,
} from './support/dockerfile.js';
import { containerEnv, named, render, requireKubectl, type Deployment, type KubeObject } from './support/manifests.js';
import { programRunning } from './support/programs.js';

/**
 * The image without a Docker engine: the runtime stage's files are assembled
 * the way the Dockerfile's COPY lines say (context through .dockerignore, the
 * build stage's dist/src, the production-only node_modules that
 * `npm ci --omit=dev` installs from the lockfile), and every program starts
 * from them with the command and environment deploy/overlays/minikube gives
 * it, under the image's Node 24 and under this machine's Node.
 */

const IMAGE = readDockerfile();
const NODE24 = join(REPO_ROOT, 'test/node24/node_modules/node/bin/node');
const NODE24_MAJOR = 24;

interface LockEntry {
  readonly dev?: boolean;
  readonly devOptional?: boolean;
}

function lockPackages(): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
}

/** Top-level node_modules entries that `npm ci --omit=dev` installs (nested ones come inside them). */
function productionPackages(): string[] {
  return Object.entries(lockPackages())
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && entry.dev !== true && entry.devOptional !== true)
    .map(([path]) => path);
}

function devOnlyPackages(): string[] {
  return Object.entries(lockPackages())
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && entry.dev === true)
    .map(([path]) => path);
}

/** Where a stage's files are on this machine: the build stage is `make build`, the deps stage is made here. */
function stageFilesIn(scratch: string, dockerfile: Dockerfile) {
  return (name: string, path: string): string => {
    const stage = dockerfile.stages.find((candidate) => candidate.name === name);
    if (stage === undefined) throw new Error(`COPY --from=${name}: no such stage`);
    const relative = posix.relative(workdir(stage), path);
    const runs = instructions(stage, 'RUN').join('\n');
    if (relative === 'node_modules' && /\bnpm ci\b.*--omit=dev/.test(runs)) {
      for (const entry of productionPackages()) linkTree(join(REPO_ROOT, entry), join(scratch, 'deps', entry));
      return join(scratch, 'deps', 'node_modules');
    }
    if (relative.startsWith('dist/') && /\btsc\b/.test(runs)) return join(REPO_ROOT, relative);
    throw new Error(`COPY --from=${name} ${path}: the checks do not know what that stage makes there`);
  };
}

describe('the container image, assembled without Docker from the Dockerfile', function () {
  this.timeout(60_000);
  let scratch: string;
  let app: string;
  let minikube: KubeObject[];

  before(function () {
    requireKubectl(this);
    // Outside the repository: from inside it, Node would find the dev dependencies in its node_modules.
    scratch = mkdtempSync(join(tmpdir(), 'lookaside-image-'));
    app = assembleRuntime(IMAGE, join(scratch, 'root'), stageFilesIn(scratch, IMAGE));
    minikube = render('deploy/overlays/minikube');
  });

  after(function () {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it('builds and runs on Node 24, as a non-root user, in production mode', function () {
    for (const stage of IMAGE.stages) assert.match(stage.image, /^node:24(-|$)/, `stage ${stage.name ?? '(runtime)'} is ${stage.image}`);
    const user = instructions(IMAGE.runtime, 'USER').at(-1);
    assert.match(user ?? '', /^[1-9]\d*:[1-9]\d*$/, 'USER must be a non-root uid:gid by number (runAsNonRoot cannot check a name)');
    assert.equal(envOf(IMAGE.runtime)['NODE_ENV'], 'production');
    assert.deepEqual(execForm(IMAGE.runtime, 'ENTRYPOINT'), ['/app/node-limits.sh']);
    assert.equal(statSync(join(REPO_ROOT, 'deploy/node-limits.sh')).mode & 0o111, 0o111, 'the entrypoint must be executable (COPY keeps the mode)');
    assert.deepEqual(execForm(IMAGE.runtime, 'CMD'), ['dist/src/lookaside/main.js'], 'the image runs the lookaside unless told otherwise');
  });

  it('ships production dependencies only', function () {
    for (const entry of productionPackages()) assert.ok(existsSync(join(app, entry)), `${entry} is missing`);
    for (const entry of devOnlyPackages()) assert.ok(!existsSync(join(app, entry)), `dev dependency ${entry} is in the image`);
    assert.ok(devOnlyPackages().includes('node_modules/typescript'));
    // As the programs would resolve them: production packages from the image, dev ones not at all.
    const resolveFromApp = createRequire(join(app, 'dist/src/lookaside/main.js')).resolve;
    assert.ok(resolveFromApp('@grpc/grpc-js').startsWith(app));
    assert.throws(() => resolveFromApp('typescript'), /Cannot find module/);
    assert.ok(!existsSync(join(app, 'dist/test')), 'tests are in the image');
  });

  it('builds from a context without node_modules, dist, tests or git (.dockerignore)', function () {
    const ignore = DockerIgnore.read();
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/lookaside/main.ts', 'proto/greet/v1/greet.proto']) {
      assert.ok(ignore.includes(path), `${path} is kept out of the build context`);
    }
    for (const path of ['node_modules/yaml/package.json', 'dist/src/lookaside/main.js', 'test/unit/config.test.ts', '.git/HEAD', 'deploy/base/kustomization.yaml', '.cache/demo/endpoints.yaml']) {
      assert.ok(!ignore.includes(path), `${path} is sent to the build`);
    }
  });

  it('compiles what the checks run: tsconfig.build.json is tsconfig.json limited to src/', function () {
    const build = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { extends: string; include: string[]; compilerOptions?: Record<string, unknown> };
    assert.equal(build.extends, './tsconfig.json');
    assert.deepEqual(build.include, ['src/**/*.ts']);
    for (const option of ['outDir', 'rootDir', 'module', 'target']) assert.equal(build.compilerOptions?.[option], undefined, `tsconfig.build.json changes ${option}`);
    assert.match(instructions(stageNamed(IMAGE, 'build'), 'RUN').join('\n'), /tsc -p tsconfig\.build\.json/);
  });

  it('ships the protos where the programs read them (proto/ beside dist/)', function () {
    for (const file of ['lookaside/v1/lookaside.proto', 'lookaside/lookaside.proto', 'greet/v1/greet.proto', 'grpc/health/v1/health.proto']) {
      assert.ok(existsSync(join(app, 'proto', file)), `proto/${file} is not in the image`);
    }
  });

  const runtimes = [
    { title: `the image's Node ${NODE24_MAJOR}`, binary: NODE24, major: NODE24_MAJOR },
    { title: `this machine's Node ${process.versions.node}`, binary: process.execPath, major: Number(process.versions.node.split('.')[0]) },
  ];
  for (const runtime of runtimes) {
    it(`starts all three programs from the image's files under ${runtime.title}, and a greeting goes through them`, async function () {
      assert.ok(existsSync(runtime.binary), `no Node at ${runtime.binary}: run make node24 (make test and make test-deploy do)`);
      const started: ServiceProcess[] = [];
      const start = (deployment: string, overrides: Record<string, string>): ServiceProcess => {
        const { env, argv } = containerOf(minikube, deployment);
        assert.equal(argv[0], '/app/node-limits.sh');
        const program = programRunning(argv.at(-1) as string);
        const ports = Object.fromEntries(program.portVariables.map((name) => [name, '0']));
        // The entrypoint from the image's files, starting this runtime's node (first on PATH).
        const child = ServiceProcess.spawn(['sh', join(app, 'node-limits.sh'), ...argv.slice(1)], {
          cwd: app,
          // What the runtime gives: the image's ENV, then the container's, on loopback here.
          env: { PATH: `${dirname(runtime.binary)}:/usr/local/bin:/usr/bin:/bin`, HOME: '/', ...envOf(IMAGE.runtime), ...env, ...ports, ...overrides },
        });
        started.push(child);
        return child;
      };
      try {
        const greet = start('greetserver', { GRPC_HOST: '127.0.0.1', SHUTDOWN_DRAIN_MS: '0' });
        const greetPort = Number((await greet.waitUntilListening())['port']);
        const podName = String(greet.logs.find((line) => line.msg === 'listening')?.['podName']);

        const endpoints = join(scratch, `endpoints-${runtime.major}.yaml`);
        writeFileSync(endpoints, `services:\n  - namespace: default\n    name: greetserver\n    endpoints:\n      - { address: "127.0.0.1:${greetPort}", pod: ${podName} }\n`);
        const lookaside = start('lookaside', { LB_HOST: '127.0.0.1', DISCOVERY: 'file', ENDPOINTS_FILE: endpoints });
        const lookasidePort = Number((await lookaside.waitUntilListening())['port']);

        const gateway = start('greetclient', { GATEWAY_HOST: '127.0.0.1', LB_ADDR: `127.0.0.1:${lookasidePort}`, SHUTDOWN_DRAIN_MS: '0' });
        const gatewayPort = Number((await gateway.waitUntilListening())['port']);

        const answer = await postGreet(gatewayPort);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.json?.['pod_name'], podName);
        assert.match(String(answer.json?.['result']), new RegExp(`^Hello, Ada Lovelace from pod: name\\(${podName}\\)`));
        assert.equal((await httpCall(gatewayPort, 'GET', '/readyz')).status, 200);

        for (const child of [gateway, lookaside, greet]) assert.equal(await child.stop(), 0, `exit code; stderr: ${child.stderr}`);
      } finally {
        await Promise.all(started.map((child) => child.stop()));
      }
      // And it was the Node it says.
      const version = ServiceProcess.spawn([runtime.binary, '--version'], { cwd: app, env: {} });
      assert.equal(await version.waitForExit(), 0);
      assert.match(version.logs.map((line) => line.msg).join(''), new RegExp(`^v${runtime.major}\\.`));
    });
  }
});

function containerOf(objects: readonly KubeObject[], name: string) {
  const deployment = named<Deployment>(objects, 'Deployment', name);
  const container = deployment.spec.template.spec.containers[0];
  assert.ok(container !== undefined);
  const env = containerEnv(container, { name: `${name}-5d8f7c9b4-x7k2p`, namespace: deployment.metadata.namespace ?? 'default', ip: '10.244.0.17' });
  return { container, env, argv: containerArgv(container, IMAGE) };
}
