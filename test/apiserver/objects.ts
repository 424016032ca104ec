import { randomBytes } from 'node:crypto';

import { JSON_PATCH, MERGE_PATCH, type KubeClient } from '../support/kube-client.js';

/**
 * Services and EndpointSlices written through the API, as the EndpointSlice
 * controller would (it does not run here). The API's view of "ready" is computed
 * from the raw objects, independently of the lookaside's own merge code.
 */

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const GRPC_PORT = 50051;

export interface EndpointSpec {
  readonly ip: string;
  readonly ready?: boolean | null;
  readonly terminating?: boolean;
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  addressType: 'IPv4';
  ports: Array<{ name: string; port: number; protocol: 'TCP' }>;
  endpoints: Array<{
    addresses: string[];
    conditions: { ready?: boolean | null; serving?: boolean; terminating?: boolean };
    targetRef: { kind: 'Pod'; name: string; namespace: string };
    nodeName: string;
  }>;
}

/** A name no other test run uses (namespaces cannot be deleted here: no namespace controller runs). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** The n-th pod IP of a test: 10.<block>.<n / 250>.<n % 250 + 1>. */
export function podIp(block: number, n: number): string {
  return `10.${block}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

export function addressOf(ip: string): string {
  return `${ip}:${GRPC_PORT}`;
}

export function endpointSlice(namespace: string, service: string, name: string, endpoints: readonly EndpointSpec[]): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace,
      labels: { [SERVICE_NAME_LABEL]: service, 'endpointslice.kubernetes.io/managed-by': 'lookaside-tests' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'grpc', port: GRPC_PORT, protocol: 'TCP' }],
    endpoints: endpoints.map((endpoint) => ({
      addresses: [endpoint.ip],
      conditions: {
        ...(endpoint.ready === undefined ? {} : { ready: endpoint.ready }),
        serving: endpoint.ready !== false,
        terminating: endpoint.terminating ?? false,
      },
      targetRef: { kind: 'Pod', name: `pod-${endpoint.ip.replaceAll('.', '-')}`, namespace },
      nodeName: 'node-1',
    })),
  };
}

/** Writes through the admin client; every method resolves once the API acknowledged the write. */
export class Cluster {
  constructor(readonly api: KubeClient) {}

  async createNamespace(name: string): Promise<void> {
    await this.api.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /** A headless Service with one port named grpc, as deploy/ declares the greet server. */
  async createService(namespace: string, name: string): Promise<void> {
    await this.api.json('POST', `/api/v1/namespaces/${namespace}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { clusterIP: 'None', selector: { app: name }, ports: [{ name: 'grpc', port: GRPC_PORT, targetPort: GRPC_PORT }] },
    });
  }

  createSlice(slice: EndpointSliceObject): Promise<EndpointSliceObject> {
    return this.api.json('POST', `${slicesPath(slice.metadata.namespace)}`, slice);
  }

  /** PUT without a resourceVersion: last write wins. */
  replaceSlice(slice: EndpointSliceObject): Promise<EndpointSliceObject> {
    const { resourceVersion: _ignored, ...metadata } = slice.metadata;
    return this.api.json('PUT', `${slicesPath(slice.metadata.namespace)}/${slice.metadata.name}`, { ...slice, metadata });
  }

  /**
   * A JSON patch of one endpoint's conditions, as the controller does when a
   * pod's readiness flips (`add` sets a condition whether or not it is present).
   */
  patchEndpoint(
    namespace: string,
    name: string,
    index: number,
    conditions: { ready?: boolean; terminating?: boolean },
  ): Promise<EndpointSliceObject> {
    const operations = Object.entries(conditions).map(([condition, value]) => ({
      op: 'add',
      path: `/endpoints/${index}/conditions/${condition}`,
      value,
    }));
    return this.api.json('PATCH', `${slicesPath(namespace)}/${name}`, operations, JSON_PATCH);
  }

  /** Moves a slice to another Service by changing its service-name label (a merge patch). */
  relabelSlice(namespace: string, name: string, service: string): Promise<EndpointSliceObject> {
    const patch = { metadata: { labels: { [SERVICE_NAME_LABEL]: service } } };
    return this.api.json('PATCH', `${slicesPath(namespace)}/${name}`, patch, MERGE_PATCH);
  }

  async deleteSlice(namespace: string, name: string): Promise<void> {
    await this.api.json('DELETE', `${slicesPath(namespace)}/${name}`);
  }

  async listSlices(namespace: string, service: string): Promise<EndpointSliceObject[]> {
    const selector = encodeURIComponent(`${SERVICE_NAME_LABEL}=${service}`);
    const list = await this.api.json<{ items: EndpointSliceObject[] }>('GET', `${slicesPath(namespace)}?labelSelector=${selector}`);
    return list.items;
  }

  /**
   * The ready addresses the API holds for a Service, by the API's rules: an
   * endpoint is ready unless `ready` is false (null or absent means ready), and
   * a terminating endpoint is not served. Empty set when slices exist but none
   * is ready; undefined when there is no slice at all.
   */
  async readyAddresses(namespace: string, service: string): Promise<Set<string> | undefined> {
    const slices = await this.listSlices(namespace, service);
    if (slices.length === 0) return undefined;
    const ready = new Set<string>();
    for (const slice of slices) {
      for (const endpoint of slice.endpoints ?? []) {
        const conditions = endpoint.conditions ?? {};
        const ip = endpoint.addresses[0];
        if (ip !== undefined && conditions.ready !== false && conditions.terminating !== true) ready.add(addressOf(ip));
      }
    }
    return ready;
  }
}

function slicesPath(namespace: string): string {
  return `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
}

/** Percentiles of a list of delays, for the closing report. */
export function summarize(delaysMs: readonly number[]): string {
  if (delaysMs.length === 0) return 'no samples';
  const sorted = [...delaysMs].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `n=${sorted.length} p50=${at(0.5)} ms p90=${at(0.9)} ms max=${sorted[sorted.length - 1]} ms`;
}
