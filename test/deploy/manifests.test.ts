import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT } from '../support/process.js';
import { loadGatewayConfig } from '../../src/greet/gateway/config.js';
import { loadLookasideConfig } from '../../src/lookaside/config.js';
import { containerArgv, copies, instructions, readDockerfile } from './support/dockerfile.js';
import {
  containerEnv,
  envNamesReadBy,
  kustomizations,
  makefileImage,
  named,
  ofKind,
  programSource,
  render,
  requireKubectl,
  type Container,
  type Deployment,
  type KubeObject,
  type PodFacts,
  type Service,
} from './support/manifests.js';
import { namesService, type GrpcRoute } from './support/grpcroute.js';
import { ingressAllowed, type NetworkPolicy, type PolicyPod } from './support/network-policy.js';
import { PROGRAMS, programRunning, type LoadedProgram, type Program } from './support/programs.js';
import { validateObject } from './support/schemas.js';

/**
 * deploy/ checked without a cluster: every kustomization renders, every object
 * passes the Kubernetes OpenAPI schemas, and the objects agree with the code:
 * the variables they set are the ones the programs read, the ports are the
 * programs' defaults, the commands are programs in the build output, the RBAC
 * is exactly what the lookaside needs. The API server itself checks the same
 * objects in test/apiserver/rbac.test.ts (kubectl apply --dry-run=server).
 */

const IMAGE = readDockerfile();
/** The overlay with a GRPCRoute canary: greetserver-v1 and greetserver-v2 behind greetserver. */
const CANARY = 'deploy/overlays/canary';
/** What the kubelet adds to every container even with enableServiceLinks: false. */
const KUBELET_ENV = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
const READ_ONLY_ENDPOINTSLICES = { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] };
/** GRPCRoutes read, and only their status written (issue #13). */
const GRPCROUTE_RULES = [
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['grpcroutes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['grpcroutes/status'], verbs: ['patch'] },
];

/** One container of one Deployment, with the program it runs and that program's view of its environment. */
interface Workload {
  readonly deployment: Deployment;
  readonly container: Container;
  readonly program: Program;
  readonly env: Record<string, string>;
  readonly facts: PodFacts;
  /** What the container runs: the image's node launcher, node's flags, the script. */
  readonly argv: readonly string[];
}

interface SpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: string;
  readonly labelSelector: { readonly matchLabels: Record<string, string> };
}

interface PodDisruptionBudget extends KubeObject {
  readonly spec: { readonly minAvailable: number; readonly selector: { readonly matchLabels: Record<string, string> } };
}

/** The image's entrypoint: node with heap limits from the container's memory limit (deploy/node-limits.sh). */
const NODE_LAUNCHER = '/app/node-limits.sh';

function workloadsOf(objects: readonly KubeObject[]): Workload[] {
  return ofKind<Deployment>(objects, 'Deployment').flatMap((deployment) =>
    deployment.spec.template.spec.containers.map((container) => {
      const argv = containerArgv(container, IMAGE);
      const scripts = argv.slice(1).filter((arg) => !arg.startsWith('--'));
      assert.equal(scripts.length, 1, `${deployment.metadata.name}: runs ${JSON.stringify(argv)}, expected node, its flags and one script`);
      assert.equal(argv.at(-1), scripts[0], `${deployment.metadata.name}: node's flags go before the script`);
      assert.equal(argv[0], NODE_LAUNCHER, `${deployment.metadata.name}: runs ${JSON.stringify(argv)}`);
      const facts: PodFacts = {
        name: `${deployment.metadata.name}-5d8f7c9b4-x7k2p`,
        namespace: deployment.metadata.namespace ?? 'default',
        ip: '10.244.0.17',
      };
      return { deployment, container, program: programRunning(scripts[0] as string), env: containerEnv(container, facts), facts, argv };
    }),
  );
}

function only<T>(items: readonly T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, found ${items.length}`);
  return items[0] as T;
}

function load(workload: Workload): LoadedProgram {
  return workload.program.load({ ...KUBELET_ENV, ...workload.env });
}

function containerPort(container: Container, name: string): number {
  const port = container.ports?.find((candidate) => candidate.name === name);
  assert.ok(port !== undefined, `${container.name} declares no container port named ${name}`);
  return port.containerPort;
}

function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  return selector !== undefined && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The Deployments a Service sends to. */
function backends(service: Service, objects: readonly KubeObject[]): Deployment[] {
  return ofKind<Deployment>(objects, 'Deployment').filter((deployment) => selects(service.spec.selector, deployment.spec.template.metadata.labels));
}

describe('deploy/: the rendered manifests agree with Kubernetes and with the code', function () {
  before(function () {
    requireKubectl(this);
  });

  it('finds the env variables the code reads by scanning config.ts (the scan is not empty)', function () {
    for (const program of PROGRAMS) {
      const names = envNamesReadBy(programSource(program.script));
      for (const name of [...program.portVariables, 'LOG_LEVEL']) {
        assert.ok(names.has(name), `scanning ${programSource(program.script)}/**/config.ts found no ${name}: ${[...names].join(', ')}`);
      }
    }
  });

  it('the schema check is live: it rejects what the API server would (a grpc probe on a named port)', async function () {
    const objects = render('deploy/base');
    const deployment = structuredClone(named<Deployment>(objects, 'Deployment', 'greetserver'));
    const container = deployment.spec.template.spec.containers[0] as { readinessProbe: unknown };
    container.readinessProbe = { grpc: { port: 'grpc' } };
    await assert.rejects(validateObject(deployment), /readinessProbe\/grpc\/port must be integer/);
  });

  for (const dir of kustomizations()) {
    describe(dir, function () {
      let objects: KubeObject[];
      let workloads: Workload[];

      before(function () {
        objects = render(dir);
        workloads = workloadsOf(objects);
      });

      it('renders, with one object per kind and name', function () {
        assert.ok(objects.length > 0);
        const keys = objects.map((object) => `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`);
        assert.equal(new Set(keys).size, keys.length, `duplicates in ${keys.join(', ')}`);
        assert.deepEqual([...new Set(workloads.map((w) => w.program.title))].sort(), PROGRAMS.map((p) => p.title).sort());
        const greetServers = workloads.filter((w) => w.program.title === 'greet server').length;
        assert.equal(greetServers, dir === CANARY ? 2 : 1, 'greet server Deployments (the canary overlay runs two versions)');
      });

      it('validates every object against the Kubernetes OpenAPI schemas', async function () {
        const failures: string[] = [];
        for (const object of objects) {
          await validateObject(object).catch((error: unknown) => failures.push(`${object.kind} ${object.metadata.name}: ${String(error)}`));
        }
        assert.deepEqual(failures, []);
      });

      it('lets the lookaside get, list and watch EndpointSlices and GRPCRoutes, patch GRPCRoute status, and nothing else, in its own namespace', function () {
        const roles = objects.filter((object) => object.kind === 'Role' || object.kind === 'ClusterRole');
        const role = only(roles, 'Role or ClusterRole');
        assert.equal(role.kind, 'Role', 'the grant should be namespaced');
        const rules = role['rules'] as Array<Record<string, string[]>>;
        assert.deepEqual(
          rules.map((rule) => ({ ...rule, verbs: [...(rule['verbs'] ?? [])].sort() })),
          [READ_ONLY_ENDPOINTSLICES, ...GRPCROUTE_RULES],
        );

        const lookaside = only(workloads.filter((w) => w.program.title === 'lookaside'), 'lookaside');
        const account = lookaside.deployment.spec.template.spec.serviceAccountName;
        assert.ok(account !== undefined, 'the lookaside runs as the default ServiceAccount');
        named(objects, 'ServiceAccount', account);
        const bindings = objects.filter((object) => object.kind === 'RoleBinding' || object.kind === 'ClusterRoleBinding');
        const binding = only(bindings, 'RoleBinding');
        assert.equal(binding.kind, 'RoleBinding');
        assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
        const subjects = binding['subjects'] as Array<{ kind: string; name: string; namespace?: string }>;
        assert.deepEqual(
          subjects.map((subject) => ({ ...subject, namespace: subject.namespace ?? binding.metadata.namespace })),
          [{ kind: 'ServiceAccount', name: account, namespace: lookaside.deployment.metadata.namespace }],
        );

        // It refuses, with a clear status, the namespaces it could not read anyway.
        const config = loadLookasideConfig({ ...KUBELET_ENV, ...lookaside.env }, { fileExists: () => false, homeDirectory: '/' });
        assert.deepEqual(config.allowedNamespaces, [lookaside.facts.namespace]);

        // Nothing else talks to the API server.
        for (const other of workloads.filter((w) => w !== lookaside)) {
          const spec = other.deployment.spec.template.spec;
          assert.equal(spec.serviceAccountName, undefined, `${other.deployment.metadata.name} has a ServiceAccount`);
          assert.equal(spec.automountServiceAccountToken, false, `${other.deployment.metadata.name} mounts an API token`);
        }
      });

      it('gives every container probes, requests and limits, and the restricted securityContext', function () {
        for (const { deployment, container } of workloads) {
          const where = `${deployment.metadata.name}/${container.name}`;
          assert.ok(container.readinessProbe !== undefined, `${where}: no readinessProbe`);
          assert.ok(container.livenessProbe !== undefined, `${where}: no livenessProbe`);
          for (const kind of ['requests', 'limits'] as const) {
            for (const resource of ['cpu', 'memory']) {
              assert.ok(container.resources?.[kind]?.[resource] !== undefined, `${where}: no ${resource} ${kind}`);
            }
          }
          assert.deepEqual(container.securityContext, {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          }, where);
          const pod = deployment.spec.template.spec;
          assert.equal(pod.enableServiceLinks, false, `${where}: service links would inject LOOKASIDE_PORT=tcp://… and the like`);
          // The image's USER, stated so runAsNonRoot can be checked before the image is pulled.
          const user = (instructions(IMAGE.runtime, 'USER').at(-1) ?? '').split(':');
          assert.equal(pod.securityContext?.['runAsUser'], Number(user[0]), `${where}: runAsUser is not the image's USER`);
          assert.equal(pod.securityContext?.['runAsGroup'], Number(user[1]), `${where}: runAsGroup is not the image's USER group`);
        }
      });

      it('leaves the V8 heap to the image\'s entrypoint, which sizes it from the memory limit set here (README "Memory")', function () {
        const lookaside = only(workloads.filter((w) => w.program.title === 'lookaside'), 'lookaside');
        const heapFlags = lookaside.argv.slice(1, -1).filter((flag) => /space-size|heap-growing/.test(flag));
        assert.deepEqual(heapFlags, [], 'heap flags by hand would override what the entrypoint computes');
        assert.match(String(lookaside.container.resources?.limits?.['memory']), /^\d+Mi$/);
      });

      it('sets only env variables its program reads (read…(env, NAME) in its config.ts)', function () {
        for (const { deployment, container, program } of workloads) {
          const read = envNamesReadBy(programSource(program.script));
          const unknown = (container.env ?? []).map((variable) => variable.name).filter((name) => !read.has(name));
          assert.deepEqual(unknown, [], `${deployment.metadata.name} sets variables ${program.title} never reads`);
        }
      });

      it('sets every variable a program needs, from the downward API where only the pod knows it, and the config loads', function () {
        for (const workload of workloads) {
          const { deployment, container, program } = workload;
          const set = new Map((container.env ?? []).map((variable) => [variable.name, variable]));
          for (const name of program.required) assert.ok(set.has(name), `${deployment.metadata.name} does not set ${name}`);
          for (const [name, fieldPath] of Object.entries(program.downward)) {
            assert.equal(set.get(name)?.valueFrom?.fieldRef?.fieldPath, fieldPath, `${deployment.metadata.name}: ${name} should come from ${fieldPath}`);
          }
          assert.doesNotThrow(() => load(workload), `${deployment.metadata.name}: its environment does not load`);
        }
        const lookaside = only(workloads.filter((w) => w.program.title === 'lookaside'), 'lookaside');
        const config = loadLookasideConfig({ ...KUBELET_ENV, ...lookaside.env }, { fileExists: () => false, homeDirectory: '/' });
        assert.equal(config.discovery.kind, 'kubernetes');
        assert.equal(config.ownNamespace, lookaside.facts.namespace);
      });

      it("declares the code's default ports, binds them, and probes, Services and scrape annotations use them", function () {
        for (const workload of workloads) {
          const { deployment, container, program } = workload;
          const where = deployment.metadata.name;
          const bound = load(workload).ports;
          assert.deepEqual(
            Object.fromEntries((container.ports ?? []).map((port) => [port.name, port.containerPort])),
            program.defaultPorts,
            `${where}: container ports`,
          );
          assert.deepEqual(bound, program.defaultPorts, `${where}: the ports its config binds`);
          for (const probe of [container.readinessProbe, container.livenessProbe]) {
            if (probe?.grpc !== undefined) {
              assert.equal(probe.grpc.port, containerPort(container, 'grpc'), `${where}: gRPC probe port`);
              assert.equal(probe.grpc.service, undefined, `${where}: probe the server's overall health ("")`);
            } else {
              assert.ok(probe?.httpGet !== undefined, `${where}: probes are grpc or httpGet`);
              const { port, path } = probe.httpGet;
              const serving = program.httpProbes[path ?? '/'];
              assert.ok(serving !== undefined, `${where}: ${program.title} serves no probe at ${path}`);
              assert.equal(typeof port === 'string' ? containerPort(container, port) : port, program.defaultPorts[serving], `${where}: HTTP probe port`);
            }
          }
          const annotations = deployment.spec.template.metadata.annotations ?? {};
          assert.equal(annotations['prometheus.io/scrape'], 'true', `${where}: scrape annotation`);
          assert.equal(annotations['prometheus.io/port'], String(bound[program.metricsPort]), `${where}: scrape port`);
          assert.equal(annotations['prometheus.io/path'], '/metrics', `${where}: scrape path`);
        }
        for (const service of ofKind<Service>(objects, 'Service')) {
          const targets = backends(service, objects);
          assert.ok(targets.length > 0, `Service ${service.metadata.name} selects no Deployment`);
          for (const port of service.spec.ports) {
            for (const target of targets) {
              const container = only(target.spec.template.spec.containers, 'container');
              const targetPort = port.targetPort ?? port.port;
              const number = typeof targetPort === 'string' ? containerPort(container, targetPort) : targetPort;
              assert.equal(number, port.port, `Service ${service.metadata.name} port ${port.name ?? port.port}: the container port differs`);
            }
          }
        }
      });

      it('rolls every Deployment without loss: a new pod before an old one goes, a grace period longer than the drain and shutdown', function () {
        for (const workload of workloads) {
          const { deployment, container } = workload;
          const where = deployment.metadata.name;
          assert.equal(deployment.spec.strategy?.rollingUpdate?.maxUnavailable, 0, `${where}: maxUnavailable`);
          assert.ok((deployment.spec.strategy?.rollingUpdate?.maxSurge ?? 0) !== 0, `${where}: maxSurge`);
          const timing = load(workload);
          const graceMs = (deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
          assert.ok(graceMs > timing.stopMs, `${where}: terminationGracePeriodSeconds ${graceMs / 1000} s is not more than drain + shutdown (${timing.stopMs} ms)`);
          // Readiness fails (health NOT_SERVING, /readyz 503) before the drain ends and the process stops taking calls.
          const readiness = container.readinessProbe;
          const noticedMs = (readiness?.periodSeconds ?? 10) * (readiness?.failureThreshold ?? 3) * 1000;
          if (timing.drainMs > 0) assert.ok(noticedMs <= timing.drainMs, `${where}: readiness notices the drain after ${noticedMs} ms, the drain lasts ${timing.drainMs} ms`);
        }
        for (const greet of workloads.filter((w) => w.program.title === 'greet server')) {
          assert.ok(load(greet).drainMs > 0, `${greet.deployment.metadata.name} must keep answering while it leaves the rotation (SHUTDOWN_DRAIN_MS)`);
        }
      });

      it('runs 3 greet servers behind the headless Service greetserver, port named grpc (the canary: v1 and v2, each also behind its own)', function () {
        const greets = workloads.filter((w) => w.program.title === 'greet server');
        const service = named<Service>(objects, 'Service', 'greetserver');
        assert.equal(service.spec.clusterIP, 'None');
        assert.deepEqual(backends(service, objects).map((d) => d.metadata.name), greets.map((greet) => greet.deployment.metadata.name));
        if (dir !== CANARY) {
          assert.deepEqual(greets.map((greet) => [greet.deployment.metadata.name, greet.deployment.spec.replicas]), [['greetserver', 3]]);
        } else {
          // greetserver stays the Service over both versions, as a mesh's canary: the GRPCRoute splits its calls.
          for (const version of ['v1', 'v2']) {
            const greet = only(greets.filter((w) => w.deployment.metadata.name === `greetserver-${version}`), `greetserver-${version}`);
            assert.equal(greet.env['GREET_VERSION'], version, `greetserver-${version}: GREET_VERSION`);
            const own = named<Service>(objects, 'Service', `greetserver-${version}`);
            assert.equal(own.spec.clusterIP, 'None');
            assert.deepEqual(backends(own, objects).map((d) => d.metadata.name), [`greetserver-${version}`]);
          }
        }
        for (const greet of greets) assert.equal(service.spec.ports.find((port) => port.name === 'grpc')?.port, greet.program.defaultPorts['grpc']);
      });

      it('routes with every GRPCRoute calls for a Service here to Services here (the canary: greetserver 90/10 to v1/v2)', function () {
        const routes = ofKind<GrpcRoute>(objects, 'GRPCRoute');
        const services = new Map(ofKind<Service>(objects, 'Service').map((service) => [service.metadata.name, service]));
        for (const route of routes) {
          const where = `GRPCRoute ${route.metadata.name}`;
          for (const parent of route.spec.parentRefs) {
            assert.ok(namesService(parent, true) && services.has(parent.name), `${where}: parentRef ${JSON.stringify(parent)} is no Service here (group "", kind Service)`);
          }
          for (const backend of (route.spec.rules ?? []).flatMap((rule) => rule.backendRefs ?? [])) {
            const service = services.get(backend.name);
            assert.ok(namesService(backend, false) && service !== undefined, `${where}: backendRef ${backend.name} is no Service here`);
            assert.ok(backend.port === undefined || service.spec.ports.some((port) => port.port === backend.port), `${where}: ${backend.name} has no port ${backend.port}`);
          }
        }
        if (dir !== CANARY) return assert.deepEqual(routes, [], `${dir} has GRPCRoutes`);
        const route = only(routes, 'GRPCRoute');
        assert.deepEqual(route.spec.parentRefs, [{ group: '', kind: 'Service', name: 'greetserver' }]);
        const rule = only(route.spec.rules ?? [], 'rule');
        assert.deepEqual((rule.backendRefs ?? []).map((ref) => [ref.name, ref.weight]), [['greetserver-v1', 90], ['greetserver-v2', 10]]);
      });

      it('runs 2 lookaside replicas spread over nodes and zones, and a PodDisruptionBudget keeps one while the other is evicted', function () {
        const lookaside = only(workloads.filter((w) => w.program.title === 'lookaside'), 'lookaside').deployment;
        assert.equal(lookaside.spec.replicas, 2);
        const labels = lookaside.spec.template.metadata.labels;
        const spread = (lookaside.spec.template.spec as { topologySpreadConstraints?: SpreadConstraint[] }).topologySpreadConstraints ?? [];
        assert.deepEqual(spread.map((constraint) => constraint.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
        for (const constraint of spread) {
          assert.equal(constraint.maxSkew, 1, constraint.topologyKey);
          // A one-node cluster (minikube) must still run both.
          assert.equal(constraint.whenUnsatisfiable, 'ScheduleAnyway', constraint.topologyKey);
          assert.ok(selects(constraint.labelSelector.matchLabels, labels), `${constraint.topologyKey}: the constraint does not count the lookaside's pods`);
        }
        const budgets = ofKind<PodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((budget) => selects(budget.spec.selector.matchLabels, labels));
        const budget = only(budgets, 'PodDisruptionBudget of the lookaside');
        assert.equal(budget.spec.minAvailable, 1);
        assert.ok(budget.spec.minAvailable < (lookaside.spec.replicas ?? 1), 'the budget must let one replica be evicted, or node drains block');
      });

      it('reads every *_FILE a program is given from a volume mounted read-only from a Secret; a lookaside on TLS is probed over HTTP', function () {
        for (const { deployment, container, env } of workloads) {
          const pod = deployment.spec.template.spec as { volumes?: Array<{ name: string; secret?: { secretName: string } }> };
          const mounts = (container as { volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }).volumeMounts ?? [];
          for (const [name, path] of Object.entries(env).filter(([variable]) => /^(LB_)?TLS_.*_FILE$/.test(variable))) {
            const mount = mounts.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
            assert.ok(mount !== undefined, `${deployment.metadata.name}: ${name}=${path} is in no mounted volume`);
            assert.equal(mount.readOnly, true, `${deployment.metadata.name}: ${mount.mountPath} is not mounted read-only`);
            const volume = pod.volumes?.find((candidate) => candidate.name === mount.name);
            assert.ok(volume?.secret?.secretName !== undefined, `${deployment.metadata.name}: ${name} is not read from a Secret`);
            assert.ok(['tls.crt', 'tls.key', 'ca.crt'].includes(path.slice(mount.mountPath.length + 1)), `${name}: not a key of a TLS Secret`);
          }
        }
        const lookaside = only(workloads.filter((w) => w.program.title === 'lookaside'), 'lookaside');
        const tls = loadLookasideConfig({ ...KUBELET_ENV, ...lookaside.env }, { fileExists: () => false, homeDirectory: '/' }).tls;
        for (const probe of [lookaside.container.readinessProbe, lookaside.container.livenessProbe]) {
          assert.equal(probe?.grpc === undefined, tls !== undefined, `${dir}: the lookaside ${tls === undefined ? 'serves plaintext: probe gRPC' : 'serves TLS: the kubelet cannot probe it over gRPC'}`);
        }
        if (dir === 'deploy/overlays/tls') {
          assert.ok(tls?.clientCaFile !== undefined, 'the TLS overlay requires client certificates');
          const gateway = only(workloads.filter((w) => w.program.title === 'gateway'), 'gateway');
          const client = loadGatewayConfig({ ...KUBELET_ENV, ...gateway.env }).lookaside?.tls;
          assert.ok(client?.caFile !== undefined && client.clientCertFile !== undefined, 'the gateway trusts the CA and presents a certificate');
        }
      });

      it('points the gateway at the lookaside Service and the greet Service, and exposes it as greetclient:9091 and greet.com', function () {
        const gateway = only(workloads.filter((w) => w.program.title === 'gateway'), 'gateway');
        const config = loadGatewayConfig({ ...KUBELET_ENV, ...gateway.env });
        assert.ok(config.balancing === 'lookaside' || config.balancing === 'xds', `BALANCING=${config.balancing} does not use the lookaside`);
        assert.equal(config.namespace, gateway.facts.namespace);
        // Resolve's address, or the xDS server of the bootstrap the gateway makes.
        const lookasideAddress = config.lookaside?.target ?? config.xds?.bootstrap.serverUri ?? '';
        const [host, port] = lookasideAddress.split(':');
        const lookasideService = named<Service>(objects, 'Service', host as string);
        assert.deepEqual(backends(lookasideService, objects).map((d) => d.metadata.name), ['lookaside']);
        assert.ok(lookasideService.spec.ports.some((p) => p.port === Number(port) && p.name === 'grpc'), `LB_ADDR ${lookasideAddress}: no such Service port`);
        const greetService = named<Service>(objects, 'Service', config.service);
        assert.ok(greetService.spec.ports.some((p) => p.port === config.serverPort), 'GRPC_SERVER_PORT is not a port of the greet Service');

        const service = named<Service>(objects, 'Service', 'greetclient');
        assert.deepEqual(backends(service, objects).map((d) => d.metadata.name), [gateway.deployment.metadata.name]);
        assert.ok(service.spec.ports.some((p) => p.port === gateway.program.defaultPorts['http']));
        const ingress = named(objects, 'Ingress', 'greetclient');
        const rules = (ingress['spec'] as { rules: Array<{ host: string; http: { paths: Array<{ backend: { service: { name: string; port: { name?: string; number?: number } } } }> } }> }).rules;
        const rule = only(rules, 'Ingress rule');
        assert.equal(rule.host, 'greet.com');
        const path = only(rule.http.paths, 'Ingress path') as (typeof rule.http.paths)[number] & { path?: string; pathType?: string };
        // Only the API is public: /metrics shows pod addresses, /readyz the gateway's internals.
        assert.deepEqual({ path: path.path, pathType: path.pathType }, { path: '/greet', pathType: 'Exact' });
        const backend = path.backend.service;
        assert.equal(backend.name, 'greetclient');
        assert.ok(service.spec.ports.some((p) => p.name === backend.port.name || p.port === backend.port.number), 'the Ingress names no port of greetclient');
      });

      it('with BALANCING=xds, gives the gateway a bootstrap naming the lookaside, node.id the pod name (downward API) and a node.locality', function () {
        const gateway = only(workloads.filter((w) => w.program.title === 'gateway'), 'gateway');
        const config = loadGatewayConfig({ ...KUBELET_ENV, ...gateway.env });
        if (config.xds === undefined) {
          assert.equal(dir === 'deploy/overlays/xds', false, `${dir} should run the gateway with BALANCING=xds`);
          return;
        }
        const podName = (gateway.container.env ?? []).find((variable) => variable.name === 'POD_NAME');
        assert.equal(podName?.valueFrom?.fieldRef?.fieldPath, 'metadata.name', 'POD_NAME should come from the downward API');
        const bootstrap = JSON.parse(config.xds.bootstrap.text) as { xds_servers: Array<{ server_uri: string }>; node: { id: string; locality?: object } };
        assert.equal(bootstrap.node.id, gateway.facts.name);
        assert.equal(typeof bootstrap.node.locality, 'object', 'grpc-js-xds refuses a node without a locality');
        const [host, port] = (bootstrap.xds_servers[0]?.server_uri ?? '').split(':');
        const lookasideService = named<Service>(objects, 'Service', host as string);
        assert.ok(lookasideService.spec.ports.some((p) => p.port === Number(port) && p.name === 'grpc'), 'the bootstrap names no gRPC port of the lookaside Service');
        // The Listener the lookaside serves: the greet Service's slice port of that number (README "The port rule").
        const greet = workloads.find((w) => w.program.title === 'greet server');
        assert.ok(greet !== undefined, 'no greet server');
        assert.equal(config.xds.target, `xds:///${config.service}.${gateway.facts.namespace}.svc.cluster.local:${containerPort(greet.container, 'grpc')}`);
        assert.equal(gateway.env['LB_POLICY'], undefined, 'LB_POLICY means nothing with BALANCING=xds');
      });

      it("lets only the gateway reach the lookaside's gRPC port and only Prometheus its metrics port (NetworkPolicy)", function () {
        const policies = ofKind<NetworkPolicy>(objects, 'NetworkPolicy');
        const podOf = (workload: Workload): PolicyPod => ({
          namespace: workload.facts.namespace,
          labels: workload.deployment.spec.template.metadata.labels,
          namespaceLabels: { 'kubernetes.io/metadata.name': workload.facts.namespace },
          containers: workload.deployment.spec.template.spec.containers,
        });
        const byTitle = (title: string): PolicyPod => podOf(only(workloads.filter((w) => w.program.title === title), title));
        const lookaside = byTitle('lookaside');
        const gateway = byTitle('gateway');
        const greetServer = podOf(workloads.find((w) => w.program.title === 'greet server') ?? assert.fail('no greet server'));
        const lookasideContainer = only(lookaside.containers ?? [], 'lookaside container');
        const grpcPort = containerPort(lookasideContainer, 'grpc');
        const metricsPort = containerPort(lookasideContainer, 'metrics');
        const prometheus: PolicyPod = {
          namespace: 'monitoring',
          labels: { 'app.kubernetes.io/name': 'prometheus', 'prometheus': 'k8s' },
          namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
        };
        const stranger: PolicyPod = { namespace: 'other', labels: { app: 'curl' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'other' } };
        const reach = (source: PolicyPod, port: number): boolean => ingressAllowed(policies, source, lookaside, port);

        assert.ok(reach(gateway, grpcPort), 'the gateway cannot reach the lookaside');
        assert.ok(reach(prometheus, metricsPort), 'Prometheus cannot scrape the lookaside');
        assert.ok(!reach(greetServer, grpcPort), 'a greet server pod reaches the lookaside');
        assert.ok(!reach({ ...greetServer, labels: { ...greetServer.labels, 'app.kubernetes.io/name': 'prometheus' }, namespace: lookaside.namespace }, grpcPort), "Prometheus reaches the lookaside's gRPC port");
        assert.ok(!reach(stranger, grpcPort), 'a pod in another namespace reaches the lookaside');
        assert.ok(!reach(stranger, metricsPort), "a pod in another namespace reaches the lookaside's metrics");
        assert.ok(!reach(gateway, metricsPort), "the gateway reaches the lookaside's metrics");
        // The policy is what keeps them out: without it every pod gets in.
        assert.ok(ingressAllowed([], greetServer, lookaside, grpcPort));
      });

      it("runs programs that are in the image's build output, from the image make image builds", function () {
        const copied = copies(IMAGE.runtime).map((copy) => copy.destination.replace(/^\.\//, '').replace(/\/$/, ''));
        for (const { deployment, container, program } of workloads) {
          assert.ok(existsSync(join(REPO_ROOT, program.script)), `${program.script} is not in the build output (make build)`);
          assert.ok(copied.some((dir) => program.script.startsWith(`${dir}/`)), `${program.script}: no COPY puts it in the image`);
          const image = makefileImage();
          if (dir === 'deploy/base') assert.equal(container.image, image.split(':')[0], `${deployment.metadata.name}: image`);
          else assert.equal(container.image, image, `${deployment.metadata.name}: not the image make image builds`);
          assert.notEqual(container.imagePullPolicy, 'Always', `${deployment.metadata.name}: minikube's image is local, never pulled`);
        }
      });

      it('scrapes, with any ServiceMonitor, only ports the selected Services have', function () {
        for (const monitor of ofKind(objects, 'ServiceMonitor')) {
          const spec = monitor['spec'] as { selector: { matchExpressions?: Array<{ key: string; operator: string; values: string[] }> }; endpoints: Array<{ port: string }> };
          const selected = ofKind<Service>(objects, 'Service').filter((service) =>
            (spec.selector.matchExpressions ?? []).every(
              (expression) => expression.operator === 'In' && expression.values.includes(service.metadata.labels?.[expression.key] ?? ''),
            ),
          );
          assert.deepEqual(selected.map((s) => s.metadata.name).sort(), ['greetclient', 'greetserver', 'lookaside']);
          for (const service of selected) {
            const metricsPorts = service.spec.ports.filter((port) => spec.endpoints.some((endpoint) => endpoint.port === port.name));
            assert.equal(metricsPorts.length, 1, `ServiceMonitor ${monitor.metadata.name} scrapes ${metricsPorts.length} ports of Service ${service.metadata.name}`);
            const program = only(workloads.filter((w) => backends(service, objects).includes(w.deployment)), 'workload').program;
            assert.equal(metricsPorts[0]?.port, program.defaultPorts[program.metricsPort], `Service ${service.metadata.name}: the scraped port is not /metrics`);
          }
        }
      });
    });
  }
});
