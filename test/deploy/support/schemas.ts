import { validateGrpcRoute } from './grpcroute.js';
import type { KubeObject } from './manifests.js';

/**
 * Validates one object against the OpenAPI schema of its kind, with the
 * models generated from the Kubernetes API (npm kubernetes-models) and from
 * prometheus-operator's CRDs (npm @kubernetes-models/prometheus-operator).
 * Like the API server's own schema, these do not refuse unknown fields; the
 * server-side dry run in test/apiserver/rbac.test.ts does (strict validation).
 * GRPCRoutes, whose CRD no package carries, by ./grpcroute.ts.
 */

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** API groups whose models come from a package other than kubernetes-models. */
const CRD_PACKAGES: Readonly<Record<string, string>> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

/** Resolves when `object` matches its kind's schema; rejects with the schema's complaints, or when its kind has no schema. */
export async function validateObject(object: KubeObject): Promise<void> {
  if (object.kind === 'GRPCRoute') {
    validateGrpcRoute(object);
    return;
  }
  const [group, version] = object.apiVersion.includes('/') ? (object.apiVersion.split('/') as [string, string]) : [undefined, object.apiVersion];
  const root = (group !== undefined && CRD_PACKAGES[group]) || 'kubernetes-models';
  const specifier = `${root}/${group === undefined ? '' : `${group}/`}${version}/${object.kind}`;
  let Class: ModelClass | undefined;
  try {
    Class = ((await import(specifier)) as Record<string, ModelClass | undefined>)[object.kind];
  } catch (error) {
    throw new Error(`no schema for ${object.apiVersion} ${object.kind} (${specifier}): ${String(error)}`, { cause: error });
  }
  if (Class === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind} (${specifier})`);
  new Class(object).validate();
}
