import { isIP } from 'node:net';

import { isServable } from './slices.js';

/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Where an endpoint runs; one object per distinct pair, shared by every endpoint there. */
export interface Site {
  readonly zone: string;
  readonly nodeName: string;
}

export interface SlicePort {
  readonly name: string;
  readonly port: number;
}

/**
 * An EndpointSlice kept in memory: only what a snapshot is built from, in
 * columns (the i-th endpoint is `ips[i]`, `pods[i]`, …): a fraction of the API
 * object's size, and less than an object per endpoint would take (measured:
 * 113 bytes per endpoint, strings included, against 151). A namespace watch
 * holds one per slice, for Services nobody asked for too.
 */
export interface CompactSlice {
  readonly name: string;
  readonly service: string;
  readonly resourceVersion: string;
  /** Valid ports only; none for an FQDN slice, which the lookaside does not serve. */
  readonly ports: readonly SlicePort[];
  /** `name:port,…` sorted: with the IP, names an endpoint that has no pod. */
  readonly portsSignature: string;
  /** The endpoints with a valid IP address (none for an FQDN slice). */
  readonly ips: readonly string[];
  /** Their pods' names ('' when an endpoint has no targetRef). */
  readonly pods: readonly string[];
  readonly sites: readonly Site[];
  /** 1 where the endpoint is ready (null or absent counts) and not terminating. */
  readonly servable: Uint8Array;
}

/** Strings and sites that repeat across endpoints (zones, nodes, port names) are kept once. */
const INTERNED_MAX = 10_000;
const interned = new Map<string, string>();
const sites = new Map<string, Site>();

function intern(value: string): string {
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size >= INTERNED_MAX) interned.clear();
  interned.set(value, value);
  return value;
}

function siteOf(zone: string, nodeName: string): Site {
  const key = `${zone}\u0000${nodeName}`;
  let site = sites.get(key);
  if (site === undefined) {
    if (sites.size >= INTERNED_MAX) sites.clear();
    site = Object.freeze({ zone: intern(zone), nodeName: intern(nodeName) });
    sites.set(key, site);
  }
  return site;
}

const NO_ENDPOINTS = new Uint8Array(0);

/**
 * Reads a `discovery.k8s.io/v1` EndpointSlice (parsed JSON) into a
 * CompactSlice; undefined when it has no name or belongs to no Service.
 */
export function compactSlice(object: unknown): CompactSlice | undefined {
  const slice = object as RawSlice | null | undefined;
  const name = slice?.metadata?.name;
  const service = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (typeof name !== 'string' || name === '' || typeof service !== 'string' || service === '') return undefined;
  const resourceVersion = String(slice?.metadata?.resourceVersion ?? '');
  if (slice?.addressType === 'FQDN') {
    return { name, service, resourceVersion, ports: [], portsSignature: '', ips: [], pods: [], sites: [], servable: NO_ENDPOINTS };
  }

  const ports: SlicePort[] = [];
  for (const port of slice?.ports ?? []) {
    const number = port?.port;
    if (typeof number === 'number' && Number.isInteger(number) && number > 0 && number <= 65_535) {
      ports.push({ name: intern(typeof port?.name === 'string' ? port.name : ''), port: number });
    }
  }
  const ips: string[] = [];
  const pods: string[] = [];
  const where: Site[] = [];
  const servable: number[] = [];
  for (const endpoint of slice?.endpoints ?? []) {
    if (endpoint === null) continue;
    const ip = endpoint.addresses?.[0];
    if (typeof ip !== 'string' || isIP(ip) === 0) continue;
    ips.push(ip);
    pods.push(typeof endpoint.targetRef?.name === 'string' ? endpoint.targetRef.name : '');
    where.push(siteOf(typeof endpoint.zone === 'string' ? endpoint.zone : '', typeof endpoint.nodeName === 'string' ? endpoint.nodeName : ''));
    servable.push(isServable(endpoint.conditions === undefined ? {} : { conditions: endpoint.conditions }) ? 1 : 0);
  }
  const portsSignature = ports.map((port) => `${port.name}:${port.port}`).sort().join(',');
  return { name, service, resourceVersion, ports, portsSignature, ips, pods, sites: where, servable: Uint8Array.from(servable) };
}

/** The fields read from the API's JSON; anything may be missing or of the wrong type. */
interface RawSlice {
  readonly metadata?: { readonly name?: unknown; readonly resourceVersion?: unknown; readonly labels?: Record<string, unknown> | null } | null;
  readonly addressType?: unknown;
  readonly ports?: ReadonlyArray<{ readonly name?: unknown; readonly port?: unknown } | null> | null;
  readonly endpoints?: ReadonlyArray<RawEndpoint | null> | null;
}

interface RawEndpoint {
  readonly addresses?: readonly unknown[] | null;
  readonly conditions?: { readonly ready?: boolean | null; readonly terminating?: boolean | null } | null;
  readonly targetRef?: { readonly name?: unknown } | null;
  readonly nodeName?: unknown;
  readonly zone?: unknown;
}
