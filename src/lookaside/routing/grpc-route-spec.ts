import { documentFields } from '../../common/document-fields.js';
import type { BackendRef, CallMatch, GrpcRoute, HeaderMatch, MethodMatch, ParentService, RouteRule } from './grpc-route.js';

/**
 * Reads a GRPCRoute object (`metadata` and `spec`, as the API server or the
 * endpoints file gives it) into the lookaside's model. Shapes the CRD would
 * refuse throw a RouteSpecError; values the CRD allows but the lookaside does
 * not support (RegularExpression matches, filters) leave the route
 * `unsupported`, so its status can say so and no call follows it.
 */

export class RouteSpecError extends Error {
  override name = 'RouteSpecError';
}

const { asObject, asList, requireString, optionalString } = documentFields((message) => new RouteSpecError(message));

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** Gateway API's own bound on a weight. */
const MAX_WEIGHT = 1_000_000;

export function parseGrpcRoute(object: unknown): GrpcRoute {
  const root = asObject(object, 'the route');
  const metadata = asObject(root['metadata'], 'metadata');
  const namespace = requireString(metadata, 'namespace', 'metadata');
  const name = requireString(metadata, 'name', 'metadata');
  const spec = asObject(root['spec'] ?? {}, 'spec');
  const unsupported: string[] = [];
  const parents: ParentService[] = [];
  asList(spec['parentRefs'], 'spec.parentRefs').forEach((item, i) => {
    const parent = parseParent(asObject(item, `spec.parentRefs[${i}]`), namespace, `spec.parentRefs[${i}]`);
    if (parent !== undefined) parents.push(parent);
  });
  const rules = asList(spec['rules'], 'spec.rules').map((item, i) => parseRule(asObject(item, `spec.rules[${i}]`), namespace, `spec.rules[${i}]`, unsupported));
  const generation = metadata['generation'];
  const createdAt = metadata['creationTimestamp'];
  return {
    namespace,
    name,
    generation: typeof generation === 'number' ? generation : 0,
    createdAt: typeof createdAt === 'string' ? createdAt : '',
    parents,
    rules,
    unsupported: unsupported.length === 0 ? undefined : { reason: 'UnsupportedValue', message: unsupported.join('; ') },
  };
}

/** A Service in the route's own namespace; undefined for any other parent (a Gateway's, or one the lookaside does not serve). */
function parseParent(ref: Record<string, unknown>, namespace: string, where: string): ParentService | undefined {
  const group = optionalString(ref, 'group', where) ?? GATEWAY_GROUP;
  const kind = optionalString(ref, 'kind', where) ?? 'Gateway';
  if (group !== '' || kind !== 'Service') return undefined;
  if ((optionalString(ref, 'namespace', where) ?? namespace) !== namespace) return undefined;
  const port = ref['port'];
  if (port !== undefined && port !== null && !isPort(port)) throw new RouteSpecError(`${where}.port: must be a port number from 1 to 65535`);
  return { name: requireString(ref, 'name', where), port: isPort(port) ? port : undefined };
}

function parseRule(rule: Record<string, unknown>, namespace: string, where: string, unsupported: string[]): RouteRule {
  if (asList(rule['filters'], `${where}.filters`).length > 0) unsupported.push(`${where}.filters: filters are not supported`);
  const matches = asList(rule['matches'], `${where}.matches`).map((item, i) =>
    parseMatch(asObject(item, `${where}.matches[${i}]`), `${where}.matches[${i}]`, unsupported),
  );
  const backends = asList(rule['backendRefs'], `${where}.backendRefs`).map((item, i) =>
    parseBackend(asObject(item, `${where}.backendRefs[${i}]`), namespace, `${where}.backendRefs[${i}]`, unsupported),
  );
  return { matches, backends };
}

function parseMatch(match: Record<string, unknown>, where: string, unsupported: string[]): CallMatch {
  let method: MethodMatch | undefined;
  if (match['method'] !== undefined && match['method'] !== null) {
    const spec = asObject(match['method'], `${where}.method`);
    const type = optionalString(spec, 'type', `${where}.method`) ?? 'Exact';
    method = { service: optionalString(spec, 'service', `${where}.method`) ?? '', method: optionalString(spec, 'method', `${where}.method`) ?? '' };
    if (type !== 'Exact') unsupported.push(`${where}.method.type: ${JSON.stringify(type)} is not supported (only Exact)`);
    if (method.service === '' && method.method === '') throw new RouteSpecError(`${where}.method: needs a service, a method or both`);
  }
  const headers: HeaderMatch[] = asList(match['headers'], `${where}.headers`).map((item, i) => {
    const at = `${where}.headers[${i}]`;
    const header = asObject(item, at);
    const type = optionalString(header, 'type', at) ?? 'Exact';
    if (type !== 'Exact') unsupported.push(`${at}.type: ${JSON.stringify(type)} is not supported (only Exact)`);
    return { name: requireString(header, 'name', at).toLowerCase(), value: optionalString(header, 'value', at) ?? '' };
  });
  return { method, headers };
}

function parseBackend(ref: Record<string, unknown>, namespace: string, where: string, unsupported: string[]): BackendRef {
  if (asList(ref['filters'], `${where}.filters`).length > 0) unsupported.push(`${where}.filters: filters are not supported`);
  const name = requireString(ref, 'name', where);
  const weight = ref['weight'] ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new RouteSpecError(`${where}.weight: must be a whole number from 0 to ${MAX_WEIGHT}`);
  }
  const group = optionalString(ref, 'group', where) ?? '';
  const kind = optionalString(ref, 'kind', where) ?? 'Service';
  const refNamespace = optionalString(ref, 'namespace', where) ?? namespace;
  if (group !== '' || kind !== 'Service') {
    return { name, weight, problem: { reason: 'InvalidKind', message: `${where} is a ${group === '' ? '' : `${group}/`}${kind}; only Services are backends` } };
  }
  if (refNamespace !== namespace) {
    return { name, weight, problem: { reason: 'RefNotPermitted', message: `${where} is in namespace ${refNamespace}; backends must be in the route's namespace` } };
  }
  return { name, weight, problem: undefined };
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535;
}
