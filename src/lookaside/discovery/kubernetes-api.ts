import {
  ApiException,
  DiscoveryV1Api,
  Observable,
  Watch,
  type KubeConfig,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1EndpointSlice,
} from '@kubernetes/client-node';

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

export interface WatchRequest {
  readonly namespace: string;
  readonly service: string;
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
}

/** What a watch reports, each from the moment the request is sent. */
export interface WatchListener {
  /** The server answered 200: the stream is open. */
  onOpen(): void;
  onEvent(type: WatchEventType, object: unknown): void;
  /** Called once when the stream ends: with an error, or with nothing when the server closed it. */
  onDone(error?: unknown): void;
}

export interface WatchHandle {
  /** Ends the watch at any stage, closing its connection even if no answer ever came. */
  abort(): void;
}

/**
 * The two calls the lookaside makes to the API server, so the watch logic can
 * be driven by a fake in tests and by @kubernetes/client-node in production.
 */
export interface EndpointSliceApi {
  list(namespace: string, service: string, timeoutSeconds: number): Promise<SliceList>;
  /** Streams changes after `resourceVersion`, with BOOKMARKs allowed; `listener` is never called from inside `watch`. */
  watch(request: WatchRequest, listener: WatchListener): WatchHandle;
}

/** The production EndpointSliceApi: list and watch through @kubernetes/client-node. */
export function clientNodeSliceApi(kubeConfig: KubeConfig): EndpointSliceApi {
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  return {
    async list(namespace, service, timeoutSeconds) {
      const list = await discovery.listNamespacedEndpointSlice(
        { namespace, labelSelector: serviceSelector(service), timeoutSeconds },
        // A list that is given up on also closes its connection (a silent peer would hold it forever).
        { middleware: [abortAfter(timeoutSeconds * 1000)], middlewareMergeStrategy: 'append' },
      );
      return { resourceVersion: list.metadata?.resourceVersion ?? '', items: list.items };
    },
    watch(request, listener) {
      return startWatch(kubeConfig, request, listener);
    },
  };
}

/**
 * One watch through client-node's Watch. Its abort controller only arrives
 * once the server has answered, so the HTTP agent it makes for this request is
 * kept too: destroying it ends a request that never got an answer.
 */
function startWatch(kubeConfig: KubeConfig, request: WatchRequest, listener: WatchListener): WatchHandle {
  let agent: { destroy(): void } | undefined;
  let controller: AbortController | undefined;
  let aborted = false;
  const config = {
    getCurrentCluster: () => kubeConfig.getCurrentCluster(),
    applyToFetchOptions: async (options: Parameters<KubeConfig['applyToFetchOptions']>[0]) => {
      const init = await kubeConfig.applyToFetchOptions(options);
      agent = init.agent as { destroy(): void } | undefined;
      if (aborted) agent?.destroy();
      return init;
    },
  };
  // client-node's Watch calls only these two methods of its KubeConfig (watch.js, 1.4).
  const watcher = new Watch(config as unknown as KubeConfig);
  let opened = false;
  watcher
    .watch(
      `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(request.namespace)}/endpointslices`,
      {
        labelSelector: serviceSelector(request.service),
        resourceVersion: request.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: request.timeoutSeconds,
      },
      (type: string, object: unknown) => {
        if (!opened) {
          opened = true;
          listener.onOpen();
        }
        listener.onEvent(type as WatchEventType, object);
      },
      (error: unknown) => listener.onDone(error ?? undefined),
    )
    .then(
      (answered) => {
        controller = answered;
        if (aborted) answered.abort();
        else if (!opened && !answered.signal.aborted) {
          opened = true;
          listener.onOpen();
        }
      },
      (error: unknown) => listener.onDone(error),
    );
  return {
    abort: () => {
      aborted = true;
      controller?.abort();
      agent?.destroy();
    },
  };
}

/** A client-node middleware that aborts the request after `timeoutMs`. */
function abortAfter(timeoutMs: number): ObservableMiddleware {
  return {
    pre: (context: RequestContext) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
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
