import type { ApiTransport } from './api-transport.js';
import { transportListWatchApi } from './list-watch-transport.js';
import { compactSlice, SERVICE_NAME_LABEL, type CompactSlice } from './compact-slices.js';
import type { DiscoveryFailure } from './types.js';

/** Selects the EndpointSlices that the EndpointSlice controller made for a Service. */
export function serviceSelector(service: string): string {
  return `${SERVICE_NAME_LABEL}=${service}`;
}

/** What a namespace watch needs of an object it lists: its name and version. */
export interface ListedObject {
  readonly name: string;
  readonly resourceVersion: string;
}

/** One page of a namespace's objects (EndpointSlices that belong to a Service, GRPCRoutes). */
export interface ListPage<Item extends ListedObject = CompactSlice> {
  readonly resourceVersion: string;
  /** Where the next page starts; '' on the last page. */
  readonly continueToken: string;
  readonly items: readonly Item[];
}

export type SlicePage = ListPage<CompactSlice>;

export interface ListRequest {
  readonly namespace: string;
  readonly limit: number;
  /** '' for the first page. */
  readonly continueToken: string;
  readonly timeoutSeconds: number;
}

export interface WatchRequest {
  readonly namespace: string;
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
}

export type WatchEvent<Item extends ListedObject = CompactSlice> =
  | { readonly type: 'ADDED' | 'MODIFIED'; readonly item: Item }
  | { readonly type: 'DELETED'; readonly name: string; readonly resourceVersion: string }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  | { readonly type: 'ERROR'; readonly code: number | undefined; readonly message: string };

/** What a watch reports, each from the moment the request is sent. */
export interface WatchListener<Item extends ListedObject = CompactSlice> {
  /** The server answered 200: the stream is open. */
  onOpen(): void;
  onEvent(event: WatchEvent<Item>): void;
  /** Called once when the stream ends: with an error, or with nothing when the server closed it. */
  onDone(error?: unknown): void;
}

export interface WatchHandle {
  /** Ends the watch at any stage; no listener is called afterwards. */
  abort(): void;
}

/**
 * The two calls a namespace watch makes to the API server, so the watch logic
 * can be driven by a fake in tests and by the real transport in production.
 */
export interface ListWatchApi<Item extends ListedObject> {
  /** The resource's plural name (`endpointslices`), for messages. */
  readonly resource?: string;
  listPage(request: ListRequest): Promise<ListPage<Item>>;
  /** Streams changes after `resourceVersion`, with BOOKMARKs allowed; `listener` is never called from inside `watch`. */
  watch(request: WatchRequest, listener: WatchListener<Item>): WatchHandle;
}

export type EndpointSliceApi = ListWatchApi<CompactSlice>;

/** Where a kind of object lives and how one is read from its JSON. */
export interface ResourceKind<Item extends ListedObject> {
  /** The plural name, as in RBAC (`endpointslices`). */
  readonly resource: string;
  /** `/apis/<group>/<version>/namespaces/<namespace>/<resource>`. */
  collectionPath(namespace: string): string;
  /** Asked of the server on every list and watch, if set. */
  readonly labelSelector?: string;
  /** The object kept, or undefined for one to treat as absent. */
  decode(object: unknown): Item | undefined;
}

const ENDPOINT_SLICES: ResourceKind<CompactSlice> = {
  resource: 'endpointslices',
  collectionPath: (namespace) => `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
  labelSelector: SERVICE_NAME_LABEL,
  decode: compactSlice,
};

/** The API server answered a request with an error status. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly code: number,
    readonly detail: string,
    readonly request: 'list' | 'watch' | 'patch',
    readonly resource = 'endpointslices',
  ) {
    super(`HTTP ${code} to a ${request} of ${resource}: ${detail}`);
  }
}

/** The production EndpointSliceApi over the lookaside's transport. */
export function transportSliceApi(transport: ApiTransport): EndpointSliceApi {
  return transportListWatchApi(transport, ENDPOINT_SLICES);
}

/** Turns an API or network error into a failure a person can act on. */
export function describeApiError(error: unknown): DiscoveryFailure {
  if (error instanceof ApiError) {
    if (error.code === 401 || error.code === 403) {
      return {
        kind: 'forbidden',
        message: `the API server refused to ${error.request} ${error.resource} (HTTP ${error.code}): ${error.detail}; check the lookaside's RBAC`,
      };
    }
    return { kind: 'unavailable', message: `the API server answered HTTP ${error.code} to a ${error.request}: ${error.detail}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'unavailable', message: `the API server is unreachable: ${message}` };
}
