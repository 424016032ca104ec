import type { KubeObject } from './manifests.js';

/**
 * Gateway API GRPCRoutes checked without the CRD's schema (no npm package
 * carries it; the API server checks them against the real CRD in
 * test/apiserver/rbac.test.ts): the structure of the standard channel's
 * gateway.networking.k8s.io/v1 GRPCRoute, as the lookaside reads it.
 */

export interface ParentRef {
  readonly group?: string;
  readonly kind?: string;
  readonly name: string;
  readonly port?: number;
}

export interface BackendRef {
  readonly group?: string;
  readonly kind?: string;
  readonly name: string;
  readonly port?: number;
  readonly weight?: number;
}

export interface GrpcRoute extends KubeObject {
  readonly spec: { readonly parentRefs: readonly ParentRef[]; readonly rules?: ReadonlyArray<{ readonly backendRefs?: readonly BackendRef[] }> };
}

const KNOWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  spec: ['parentRefs', 'hostnames', 'rules'],
  parentRef: ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'],
  rule: ['name', 'matches', 'filters', 'backendRefs', 'sessionPersistence'],
  backendRef: ['group', 'kind', 'namespace', 'name', 'port', 'weight', 'filters'],
};
/** The CRD's limits: rules maxItems, weight maximum, port range. */
const MAX_RULES = 16;
const MAX_WEIGHT = 1_000_000;
const MAX_PORT = 65_535;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function knownOnly(fields: Record<string, unknown>, shape: string, where: string): void {
  const unknown = Object.keys(fields).filter((key) => !(KNOWN_FIELDS[shape] ?? []).includes(key));
  if (unknown.length > 0) throw new Error(`${where}: unknown field(s) ${unknown.join(', ')}`);
}

function integerIn(value: unknown, low: number, high: number, where: string): void {
  if (value !== undefined && !(Number.isInteger(value) && (value as number) >= low && (value as number) <= high)) {
    throw new Error(`${where} must be an integer in [${low}, ${high}], is ${JSON.stringify(value)}`);
  }
}

function reference(value: unknown, shape: 'parentRef' | 'backendRef', where: string): void {
  const fields = record(value, where);
  knownOnly(fields, shape, where);
  if (typeof fields['name'] !== 'string' || !DNS_LABEL.test(fields['name'])) throw new Error(`${where}/name must be a DNS label, is ${JSON.stringify(fields['name'])}`);
  for (const key of ['group', 'kind', 'namespace', 'sectionName']) {
    if (fields[key] !== undefined && typeof fields[key] !== 'string') throw new Error(`${where}/${key} must be a string`);
  }
  integerIn(fields['port'], 1, MAX_PORT, `${where}/port`);
  if (shape === 'backendRef') integerIn(fields['weight'], 0, MAX_WEIGHT, `${where}/weight`);
}

/** Throws, naming the field, where `object` is not a GRPCRoute the standard-channel CRD would take. */
export function validateGrpcRoute(object: KubeObject): void {
  if (object.apiVersion !== 'gateway.networking.k8s.io/v1') throw new Error(`GRPCRoute ${object.metadata.name}: apiVersion ${object.apiVersion}, not gateway.networking.k8s.io/v1`);
  const spec = record(object['spec'], 'spec');
  knownOnly(spec, 'spec', 'spec');
  const parents = spec['parentRefs'];
  if (!Array.isArray(parents) || parents.length === 0) throw new Error('spec/parentRefs must be a non-empty array');
  parents.forEach((parent, index) => reference(parent, 'parentRef', `spec/parentRefs/${index}`));
  const rules = spec['rules'] ?? [];
  if (!Array.isArray(rules) || rules.length > MAX_RULES) throw new Error(`spec/rules must be an array of at most ${MAX_RULES}`);
  rules.forEach((rule: unknown, index) => {
    const fields = record(rule, `spec/rules/${index}`);
    knownOnly(fields, 'rule', `spec/rules/${index}`);
    const refs = fields['backendRefs'] ?? [];
    if (!Array.isArray(refs)) throw new Error(`spec/rules/${index}/backendRefs must be an array`);
    refs.forEach((ref, refIndex) => reference(ref, 'backendRef', `spec/rules/${index}/backendRefs/${refIndex}`));
  });
}

/** A parentRef or backendRef that names a core Service (group "", kind Service; both the defaults for a backendRef). */
export function namesService(ref: ParentRef | BackendRef, isParent: boolean): boolean {
  return (ref.group ?? (isParent ? 'gateway.networking.k8s.io' : '')) === '' && (ref.kind ?? (isParent ? 'Gateway' : 'Service')) === 'Service';
}
