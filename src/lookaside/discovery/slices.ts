import { isIP } from 'node:net';

import type { Endpoint, ServiceSnapshot } from './types.js';
import { joinHostPort } from '../../common/addresses.js';

/**
 * The parts of a `discovery.k8s.io/v1` EndpointSlice the lookaside reads. The
 * client library's V1EndpointSlice fits this shape; the file source builds it too.
 */
export interface SliceInput {
  readonly addressType?: string | null;
  readonly ports?: ReadonlyArray<{ readonly name?: string | null; readonly port?: number | null }> | null;
  readonly endpoints?: ReadonlyArray<EndpointInput> | null;
}

export interface EndpointInput {
  readonly addresses?: ReadonlyArray<string> | null;
  readonly conditions?: {
    readonly ready?: boolean | null;
    readonly terminating?: boolean | null;
  } | null;
  readonly targetRef?: { readonly kind?: string | null; readonly name?: string | null } | null;
  readonly nodeName?: string | null;
  readonly zone?: string | null;
}

/**
 * The API says a null or absent `ready` means ready; a terminating endpoint is
 * never handed out, even when it is still ready (publishNotReadyAddresses).
 */
export function isServable(endpoint: EndpointInput): boolean {
  const conditions = endpoint.conditions;
  return conditions?.ready !== false && conditions?.terminating !== true;
}


/**
 * Merges every slice of one Service into a snapshot: the union of all slices,
 * de-duplicated by address per port, ready endpoints only. No slices gives a
 * snapshot with `sliceCount: 0`; slices with nothing ready give empty lists.
 */
export function mergeSlices(slices: readonly SliceInput[]): ServiceSnapshot {
  const readyByPort = new Map<string, Map<string, Endpoint>>();
  // An endpoint is a pod: named by its targetRef when it has one, else an IP
  // serving one set of ports (in the file, local processes share 127.0.0.1).
  const ready = new Set<string>();
  const notReady = new Set<string>();

  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const ports = (slice.ports ?? []).filter(
      (port): port is { name?: string | null; port: number } =>
        typeof port.port === 'number' && port.port > 0 && port.port <= 65_535,
    );
    for (const port of ports) {
      const name = port.name ?? '';
      if (!readyByPort.has(name)) readyByPort.set(name, new Map());
    }
    const portsSignature = ports.map((port) => `${port.name ?? ''}:${port.port}`).sort().join(',');
    for (const endpoint of slice.endpoints ?? []) {
      const ip = endpoint.addresses?.[0];
      if (ip === undefined || isIP(ip) === 0) continue;
      const podName = endpoint.targetRef?.name;
      const identity = podName ? `pod:${podName}` : `${ip}|${portsSignature}`;
      if (!isServable(endpoint)) {
        notReady.add(identity);
        continue;
      }
      ready.add(identity);
      for (const port of ports) {
        const address = joinHostPort(ip, port.port);
        readyByPort.get(port.name ?? '')?.set(address, {
          address,
          ip,
          port: port.port,
          podName: endpoint.targetRef?.name ?? '',
          zone: endpoint.zone ?? '',
          nodeName: endpoint.nodeName ?? '',
        });
      }
    }
  }
  // An endpoint ready in one slice and not in another (a move between slices) counts as ready.
  for (const identity of ready) notReady.delete(identity);

  const sortedByPort = new Map<string, readonly Endpoint[]>();
  const fingerprintParts: string[] = [String(slices.length)];
  for (const name of [...readyByPort.keys()].sort()) {
    const endpoints = [...(readyByPort.get(name)?.values() ?? [])].sort(byAddress);
    sortedByPort.set(name, Object.freeze(endpoints));
    fingerprintParts.push(
      `${name}=${endpoints.map((e) => `${e.address}|${e.podName}|${e.zone}|${e.nodeName}`).join(',')}`,
    );
  }
  fingerprintParts.push(`notReady=${notReady.size}`);
  return Object.freeze({
    sliceCount: slices.length,
    readyByPort: sortedByPort,
    readyCount: ready.size,
    notReadyCount: notReady.size,
    fingerprint: fingerprintParts.join(';'),
  });
}

function byAddress(a: Endpoint, b: Endpoint): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}
