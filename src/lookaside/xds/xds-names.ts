import { serviceKeyString, type ServiceKey } from '../discovery/types.js';
import { isRfc1123Label } from '../../common/addresses.js';
import { quoteInput } from '../validation.js';

/**
 * The names of the resources the lookaside serves over xDS. A client targets
 * `xds:///<service>.<namespace>[.svc[.cluster.local]]:<port>` and subscribes
 * to a Listener of exactly that name; the RouteConfiguration, Cluster and
 * ClusterLoadAssignment behind it share one canonical name,
 * `<service>.<namespace>.svc.cluster.local:<port>`, so every spelling of a
 * target leads to the same cluster.
 */

/** `<port>`: a number is an EndpointSlice port number (the pod's target port), anything else a port name. */
export type PortRef = { readonly kind: 'number'; readonly number: number } | { readonly kind: 'name'; readonly name: string };

export interface XdsTarget {
  readonly key: ServiceKey;
  readonly port: PortRef;
  /** The name of its RouteConfiguration, Cluster and ClusterLoadAssignment. */
  readonly canonical: string;
}

/** A name and what it means, or why nothing of that name can exist here (kept for /debug/xds). */
export type ParsedName = { readonly ok: true; readonly target: XdsTarget } | { readonly ok: false; readonly problem: string };

const DOMAIN_SUFFIXES = ['', '.svc', '.svc.cluster.local'] as const;
const MAX_PORT = 65_535;

export function canonicalName(key: ServiceKey, port: PortRef): string {
  return `${key.name}.${key.namespace}.svc.cluster.local:${port.kind === 'number' ? port.number : port.name}`;
}

export function describePort(port: PortRef): string {
  return port.kind === 'number' ? `port ${port.number}` : `port named "${port.name}"`;
}

/**
 * Reads a resource name. `allowedNamespaces` empty allows every namespace
 * (ALLOWED_NAMESPACES); a name in another one means nothing, as for Resolve.
 */
export function parseXdsName(name: string, allowedNamespaces: ReadonlySet<string>): ParsedName {
  const colon = name.lastIndexOf(':');
  if (colon < 0) return fail(`${quoteInput(name)} has no port: use <service>.<namespace>[.svc[.cluster.local]]:<port>`);
  const host = name.slice(0, colon);
  const portText = name.slice(colon + 1);
  const suffix = [...DOMAIN_SUFFIXES].reverse().find((candidate) => host.endsWith(candidate) && host.split('.').length === 2 + dots(candidate));
  if (suffix === undefined) {
    return fail(`${quoteInput(name)} is not <service>.<namespace>[.svc[.cluster.local]]:<port>`);
  }
  const [service = '', namespace = ''] = host.slice(0, host.length - suffix.length).split('.');
  if (!isRfc1123Label(service) || !isRfc1123Label(namespace)) {
    return fail(`${quoteInput(name)}: the service and namespace must be RFC 1123 labels`);
  }
  const port = parsePort(portText);
  if (port === undefined) {
    return fail(`${quoteInput(name)}: the port must be a number from 1 to ${MAX_PORT} or an RFC 1123 port name`);
  }
  if (allowedNamespaces.size > 0 && !allowedNamespaces.has(namespace)) {
    return fail(`namespace "${namespace}" is not served by this lookaside (ALLOWED_NAMESPACES)`);
  }
  const key = { namespace, name: service };
  return { ok: true, target: { key, port, canonical: canonicalName(key, port) } };
}

/** For logs and /debug/xds. */
export function describeTarget(target: XdsTarget): string {
  return `${serviceKeyString(target.key)} ${describePort(target.port)}`;
}

function parsePort(text: string): PortRef | undefined {
  if (/^[0-9]{1,5}$/.test(text)) {
    const number = Number(text);
    return number >= 1 && number <= MAX_PORT ? { kind: 'number', number } : undefined;
  }
  return isRfc1123Label(text) ? { kind: 'name', name: text } : undefined;
}

function dots(text: string): number {
  return text.split('.').length - 1;
}

function fail(problem: string): ParsedName {
  return { ok: false, problem };
}
