import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import type { ControlPlane } from '../support/control-plane.js';
import { KubeApiError } from '../support/kube-client.js';
import { REPO_ROOT } from '../support/process.js';

/** The lookaside's RBAC as deploy/base renders it, applied to the test control plane. */

const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [field: string]: unknown;
}

export interface PolicyRule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly verbs: string[];
}

export interface LookasideRbac {
  /** Where the objects came from, for messages. */
  readonly origin: string;
  readonly objects: readonly KubeObject[];
  readonly serviceAccount: { readonly name: string; readonly namespace: string };
  /** The rules of every role bound to that ServiceAccount. */
  readonly rules: readonly PolicyRule[];
  /** Namespaces the grant is limited to (RoleBindings); undefined for a cluster-wide grant. */
  readonly namespaces: readonly string[] | undefined;
}

/** Renders deploy/base and keeps the RBAC objects. */
export async function loadLookasideRbac(plane: ControlPlane): Promise<LookasideRbac> {
  const rendered = await plane.kubectl(['kustomize', join(REPO_ROOT, 'deploy/base')]);
  if (rendered.code !== 0) throw new Error(`kubectl kustomize deploy/base failed: ${rendered.stderr}`);
  const origin = 'kubectl kustomize deploy/base';
  const objects = parseAllDocuments(rendered.stdout)
    .map((document) => document.toJSON() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null && RBAC_KINDS.has(object.kind));

  const accounts = objects.filter((object) => object.kind === 'ServiceAccount');
  const account = accounts.find((object) => object.metadata.name.includes('lookaside')) ?? accounts[0];
  if (account === undefined) throw new Error(`${origin} declares no ServiceAccount for the lookaside`);
  const serviceAccount = { name: account.metadata.name, namespace: account.metadata.namespace ?? 'default' };

  const bindings = objects.filter(
    (object) =>
      (object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding') &&
      ((object['subjects'] as Array<{ kind: string; name: string; namespace?: string }> | undefined) ?? []).some(
        (subject) =>
          subject.kind === 'ServiceAccount' &&
          subject.name === serviceAccount.name &&
          // Unset namespaces are the binding's, and the binding's is kubectl's (default).
          (subject.namespace ?? object.metadata.namespace ?? 'default') === serviceAccount.namespace,
      ),
  );
  if (bindings.length === 0) throw new Error(`${origin} binds no role to ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`);
  const rules = bindings.flatMap((binding) => {
    const roleRef = binding['roleRef'] as { kind: string; name: string };
    const role = objects.find(
      (object) =>
        object.kind === roleRef.kind &&
        object.metadata.name === roleRef.name &&
        (roleRef.kind === 'ClusterRole' || object.metadata.namespace === binding.metadata.namespace),
    );
    if (role === undefined) throw new Error(`${origin}: ${binding.kind} ${binding.metadata.name} refers to a missing ${roleRef.kind} ${roleRef.name}`);
    return (role['rules'] as PolicyRule[] | undefined) ?? [];
  });
  const namespaces = bindings.some((binding) => binding.kind === 'ClusterRoleBinding')
    ? undefined
    : bindings.map((binding) => binding.metadata.namespace ?? 'default');
  return { origin, objects, serviceAccount, rules, namespaces };
}

/** Creates the namespaces the objects live in, then applies them with kubectl. */
export async function applyRbac(plane: ControlPlane, rbac: LookasideRbac): Promise<void> {
  const namespaces = new Set(rbac.objects.flatMap((object) => (object.metadata.namespace === undefined ? [] : [object.metadata.namespace])));
  for (const namespace of namespaces) await ensureNamespace(plane, namespace);
  const list = { apiVersion: 'v1', kind: 'List', items: rbac.objects };
  const applied = await plane.kubectl(['apply', '-f', '-'], { input: JSON.stringify(list) });
  if (applied.code !== 0) throw new Error(`kubectl apply of ${rbac.origin} failed: ${applied.stderr}`);
}

export async function ensureNamespace(plane: ControlPlane, name: string): Promise<void> {
  try {
    await plane.admin.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
}

/** A token for a ServiceAccount (TokenRequest API), as a pod would mount it. */
export async function serviceAccountToken(plane: ControlPlane, namespace: string, name: string): Promise<string> {
  const created = await plane.kubectl(['create', 'token', name, '-n', namespace, '--duration=2h']);
  if (created.code !== 0) throw new Error(`kubectl create token ${namespace}/${name} failed: ${created.stderr}`);
  return created.stdout.trim();
}
