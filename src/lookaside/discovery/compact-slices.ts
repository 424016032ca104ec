import { isIP } from 'node:net';

import { isServable } from './slices.js';

/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One endpoint of a slice, as much as the lookaside reads of it. */
export interface SliceEndpoint {
  readonly ip: string;
  /** The pod's name ('' when the endpoint has no targetRef). */
  readonly podName: string;
  readonly zone: string;
  readonly nodeName: string;
  /** Ready (null or absent counts) and not terminating. */
  readonly servable: boolean;
}

export interface SlicePort {
  readonly name: string;
  readonly port: number;
}

/**
 * An EndpointSlice kept in memory: only what a snapshot is built from, a
 * fraction of the API object's size (no metadata, conditions as one flag,
 * zone and node names shared). A namespace watch holds one per slice, for
 * Services nobody asked for too.
 */
export interface CompactSlice {
  readonly name: string;
  readonly service: string;
  readonly resourceVersion: string;
  /** Valid ports only; none for an FQDN slice, which the lookaside does not serve. */
  readonly ports: readonly SlicePort[];
  /** Endpoints with a valid IP address; none for an FQDN slice. */
  readonly endpoints: readonly SliceEndpoint[];
  /** `name:port,…` sorted: with the IP, names an endpoint that has no pod. */
  readonly portsSignature: string;
}

/** How an endpoint is counted once across slices: its pod, else its IP serving one set of ports. */
export function endpointIdentity(endpoint: SliceEndpoint, slice: CompactSlice): string {
  return endpoint.podName !== '' ? `pod:${endpoint.podName}` : `${endpoint.ip}|${slice.portsSignature}`;
}

/** Strings that repeat across endpoints (zones, nodes, port names) are kept once. */
const INTERNED_MAX = 10_000;
const interned = new Map<string, string>();

function intern(value: string): string {
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size >= INTERNED_MAX) interned.clear();
  interned.set(value, value);
  return value;
}

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
  if (slice?.addressType === 'FQDN') return { name, service, resourceVersion, ports: [], endpoints: [], portsSignature: '' };

  const ports: SlicePort[] = [];
  for (const port of slice?.ports ?? []) {
    const number = port?.port;
    if (typeof number === 'number' && Number.isInteger(number) && number > 0 && number <= 65_535) {
      ports.push({ name: intern(typeof port?.name === 'string' ? port.name : ''), port: number });
    }
  }
  const endpoints: SliceEndpoint[] = [];
  for (const endpoint of slice?.endpoints ?? []) {
    if (endpoint === null) continue;
    const ip = endpoint.addresses?.[0];
    if (typeof ip !== 'string' || isIP(ip) === 0) continue;
    endpoints.push({
      ip,
      podName: typeof endpoint.targetRef?.name === 'string' ? endpoint.targetRef.name : '',
      zone: intern(typeof endpoint.zone === 'string' ? endpoint.zone : ''),
      nodeName: intern(typeof endpoint.nodeName === 'string' ? endpoint.nodeName : ''),
      servable: isServable(endpoint.conditions === undefined ? {} : { conditions: endpoint.conditions }),
    });
  }
  const portsSignature = ports.map((port) => `${port.name}:${port.port}`).sort().join(',');
  return { name, service, resourceVersion, ports, endpoints, portsSignature };
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
