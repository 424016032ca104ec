import { ApiException, DiscoveryV1Api, Watch, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';

import type { DiscoveryFailure } from './types.js';

/** Selects the EndpointSlices that the EndpointSlice controller made for a Service. */
export function serviceSelector(service: string): string {
  return `kubernetes.io/service-name=${service}`;
}

export interface SliceList {
  readonly resourceVersion: string;
  readonly items: readonly V1EndpointSlice[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  abort(): void;
}

/**
 * The two calls the lookaside makes to the API server, so the watch logic can
 * be driven by a fake in tests and by @kubernetes/client-node in production.
 */
export interface EndpointSliceApi {
  list(namespace: string, service: string, timeoutSeconds: number): Promise<SliceList>;
  /**
   * Streams changes after `resourceVersion`. `onDone` is called once when the
   * stream ends: with an error, or with nothing when the server closed it.
   */
  watch(
    namespace: string,
    service: string,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (type: WatchEventType, object: unknown) => void,
    onDone: (error?: unknown) => void,
  ): Promise<WatchHandle>;
}

/** The production EndpointSliceApi: list and watch through @kubernetes/client-node. */
export function clientNodeSliceApi(kubeConfig: KubeConfig): EndpointSliceApi {
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  const watcher = new Watch(kubeConfig);
  return {
    async list(namespace, service, timeoutSeconds) {
      const list = await discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: serviceSelector(service),
        timeoutSeconds,
      });
      return { resourceVersion: list.metadata?.resourceVersion ?? '', items: list.items };
    },
    async watch(namespace, service, resourceVersion, timeoutSeconds, onEvent, onDone) {
      const controller = await watcher.watch(
        `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
        {
          labelSelector: serviceSelector(service),
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        (type: string, object: unknown) => onEvent(type as WatchEventType, object),
        (error: unknown) => onDone(error ?? undefined),
      );
      return { abort: () => controller.abort() };
    },
  };
}

/** Turns an API or network error into a failure a person can act on. */
export function describeApiError(error: unknown): DiscoveryFailure {
  const answer = httpAnswer(error);
  if (answer !== undefined) {
    const { code, detail, request } = answer;
    if (code === 401 || code === 403) {
      return {
        kind: 'forbidden',
        message: `the API server refused to ${request} endpointslices (HTTP ${code}): ${detail}; check the lookaside's RBAC`,
      };
    }
    return { kind: 'unavailable', message: `the API server answered HTTP ${code} to a ${request}: ${detail}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'unavailable', message: `the API server is unreachable: ${message}` };
}

/** The HTTP status of a failed list (ApiException) or watch, or undefined when no answer came. */
function httpAnswer(error: unknown): { code: number; detail: string; request: 'list' | 'watch' } | undefined {
  if (error instanceof ApiException) {
    const code = (error as ApiException<unknown>).code;
    const detail = statusMessage((error as ApiException<unknown>).body) ?? error.message.split('\n')[0] ?? '';
    return { code, detail, request: 'list' };
  }
  // client-node's Watch rejects a non-200 answer with a plain Error carrying
  // `statusCode` and the status text (it does not read the Status body).
  const statusCode: unknown = error instanceof Error ? (error as Error & { statusCode?: unknown }).statusCode : undefined;
  if (typeof statusCode === 'number') return { code: statusCode, detail: (error as Error).message, request: 'watch' };
  return undefined;
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return statusMessage(JSON.parse(body));
    } catch {
      return body.slice(0, 200) || undefined;
    }
  }
  if (typeof body === 'object' && body !== null && 'message' in body) {
    const message = (body as { message: unknown }).message;
    return typeof message === 'string' ? message : undefined;
  }
  return undefined;
}
