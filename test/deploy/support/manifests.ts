import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { findBinaries } from '../../support/control-plane.js';
import { REPO_ROOT } from '../../support/process.js';

/**
 * deploy/ as kubectl renders it, and the pieces of the rendered objects the
 * checks look at. Plain data (no Kubernetes client types): the point is to see
 * exactly what `kubectl apply -k` would send.
 */

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string }; readonly [source: string]: unknown };
}

export interface Probe {
  readonly grpc?: { readonly port: number; readonly service?: string };
  readonly httpGet?: { readonly path?: string; readonly port: number | string };
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly imagePullPolicy?: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly ports?: Array<{ readonly name?: string; readonly containerPort: number }>;
  readonly env?: EnvVar[];
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> };
  readonly securityContext?: Record<string, unknown>;
}

export interface PodSpec {
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly serviceAccountName?: string;
  readonly automountServiceAccountToken?: boolean;
  readonly enableServiceLinks?: boolean;
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: Record<string, unknown>;
}

export interface Deployment extends KubeObject {
  readonly spec: {
    readonly replicas?: number;
    readonly selector: { readonly matchLabels: Record<string, string> };
    readonly strategy?: { readonly type?: string; readonly rollingUpdate?: { readonly maxSurge?: number | string; readonly maxUnavailable?: number | string } };
    readonly template: { readonly metadata: { readonly labels: Record<string, string>; readonly annotations?: Record<string, string> }; readonly spec: PodSpec };
  };
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  readonly targetPort?: number | string;
}

export interface Service extends KubeObject {
  readonly spec: { readonly clusterIP?: string; readonly selector?: Record<string, string>; readonly ports: ServicePort[] };
}

/** The kubectl the apiserver harness builds (test/kube/build.sh), else the one on PATH. */
export function kubectlBinary(): string {
  const binaries = findBinaries();
  return typeof binaries === 'string' ? 'kubectl' : binaries.kubectl;
}

let kubectlWorks: boolean | undefined;
let skipNoticeShown = false;

/**
 * For a suite's `before`: these checks render with kubectl, the harness's
 * (make kube-binaries) or one on PATH. Without one they are skipped with a
 * notice, unless CI=true or LOOKASIDE_APISERVER=1 asks for every suite.
 */
export function requireKubectl(context: Mocha.Context): void {
  kubectlWorks ??= spawnSync(kubectlBinary(), ['version', '--client'], { encoding: 'utf8' }).status === 0;
  if (kubectlWorks) return;
  const reason = 'no kubectl to render deploy/ with (make kube-binaries builds one)';
  if (process.env['CI'] === 'true' || process.env['LOOKASIDE_APISERVER'] === '1') throw new Error(reason);
  if (!skipNoticeShown) {
    skipNoticeShown = true;
    console.log(`      (deploy/ checks skipped: ${reason})`);
  }
  context.skip();
}

/** deploy/base and every overlay under deploy/overlays/, as paths relative to the repository. */
export function kustomizations(): string[] {
  const overlays = join(REPO_ROOT, 'deploy/overlays');
  const found = existsSync(overlays)
    ? readdirSync(overlays, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(join(overlays, entry.name, 'kustomization.yaml')))
        .map((entry) => `deploy/overlays/${entry.name}`)
        .sort()
    : [];
  return ['deploy/base', ...found];
}

/** `kubectl kustomize <dir>`, parsed; throws with kubectl's message when it cannot render. */
export function render(dir: string): KubeObject[] {
  const kubectl = kubectlBinary();
  const result = spawnSync(kubectl, ['kustomize', join(REPO_ROOT, dir)], { encoding: 'utf8' });
  if (result.error !== undefined) throw new Error(`cannot run ${kubectl}: ${result.error.message} (make kube-binaries builds one)`);
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJSON() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

export function ofKind<T extends KubeObject>(objects: readonly KubeObject[], kind: string): T[] {
  return objects.filter((object) => object.kind === kind) as T[];
}

export function named<T extends KubeObject>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return found as T;
}

/** Values the downward API would give, for the fields the manifests use. */
export interface PodFacts {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
}

/**
 * A container's environment as the kubelet builds it: literal values, the
 * downward-API fields in `facts`, and `$(NAME)` references to variables defined
 * earlier in the list (`$$` escapes a `$`). Any other source is an error here,
 * because the checks could not know its value.
 */
export function containerEnv(container: Container, facts: PodFacts): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = { 'metadata.name': facts.name, 'metadata.namespace': facts.namespace, 'status.podIP': facts.ip };
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) =>
        name === undefined ? '$' : (env[name] ?? whole),
      );
    } else {
      const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
      const value = fieldPath === undefined ? undefined : fields[fieldPath];
      if (value === undefined) throw new Error(`${container.name}: env ${variable.name} comes from a source the checks do not model`);
      env[variable.name] = value;
    }
  }
  return env;
}

/** The source of the program a container runs, e.g. dist/src/lookaside/main.js -> src/lookaside. */
export function programSource(script: string): string {
  const match = /^dist\/(src\/.+)\/main\.js$/.exec(script);
  if (match?.[1] === undefined) throw new Error(`not a program of ours: ${script}`);
  return match[1];
}

/**
 * The environment variables a program reads: every `read…(env, 'NAME'` call in
 * the config.ts files under its source directory and in src/common/config.ts.
 */
export function envNamesReadBy(sourceDir: string): Set<string> {
  const files = [...configFilesUnder(join(REPO_ROOT, sourceDir)), join(REPO_ROOT, 'src/common/config.ts')];
  const names = new Set<string>();
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bread[A-Za-z]*\(\s*env\s*,\s*'([A-Z][A-Z0-9_]*)'/g)) {
      names.add(match[1] as string);
    }
  }
  return names;
}

function configFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name === 'config.ts')
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The Makefile's `IMAGE := …`: the tag `make image` builds. */
export function makefileImage(): string {
  const match = /^IMAGE\s*[:?]?=\s*(\S+)\s*$/m.exec(readFileSync(join(REPO_ROOT, 'Makefile'), 'utf8'));
  if (match?.[1] === undefined) throw new Error('the Makefile sets no IMAGE := …');
  return match[1];
}
