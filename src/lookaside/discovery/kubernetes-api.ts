import type { Readable } from 'node:stream';

import type { ApiTransport } from './api-transport.js';
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

/** A list page larger than this is refused rather than held in memory. */
const MAX_LIST_CHARS = 64 * 2 ** 20;
/** A watch event larger than this ends the watch (an EndpointSlice holds at most 1,000 endpoints). */
const MAX_EVENT_BYTES = 16 * 2 ** 20;

/** The production EndpointSliceApi over the lookaside's transport. */
export function transportSliceApi(transport: ApiTransport): EndpointSliceApi {
  return transportListWatchApi(transport, ENDPOINT_SLICES);
}

/** Lists and watches one kind of object over the lookaside's transport. */
export function transportListWatchApi<Item extends ListedObject>(transport: ApiTransport, kind: ResourceKind<Item>): ListWatchApi<Item> {
  return {
    resource: kind.resource,
    async listPage(request) {
      const query = new URLSearchParams({ limit: String(request.limit), timeoutSeconds: String(request.timeoutSeconds) });
      if (kind.labelSelector !== undefined) query.set('labelSelector', kind.labelSelector);
      if (request.continueToken !== '') query.set('continue', request.continueToken);
      // A list that is given up on also closes its stream (a silent peer would hold it forever).
      const signal = AbortSignal.timeout(request.timeoutSeconds * 1000);
      const answer = await transport.get(`${kind.collectionPath(request.namespace)}?${query}`, signal);
      const text = await readAll(answer.body, MAX_LIST_CHARS);
      if (answer.status !== 200) throw refused(transport, answer.status, text, 'list', kind.resource);
      const list = JSON.parse(text) as { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] | null };
      const items: Item[] = [];
      for (const raw of list.items ?? []) {
        const item = kind.decode(raw);
        if (item !== undefined) items.push(item);
      }
      return { resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?.continue ?? '', items };
    },
    watch(request, listener) {
      return startWatch(transport, kind, request, listener);
    },
  };
}

function startWatch<Item extends ListedObject>(transport: ApiTransport, kind: ResourceKind<Item>, request: WatchRequest, listener: WatchListener<Item>): WatchHandle {
  const controller = new AbortController();
  let done = false;
  const finish = (error?: unknown): void => {
    if (done) return;
    done = true;
    controller.abort();
    listener.onDone(error);
  };
  const query = new URLSearchParams({
    watch: 'true',
    allowWatchBookmarks: 'true',
    resourceVersion: request.resourceVersion,
    timeoutSeconds: String(request.timeoutSeconds),
  });
  if (kind.labelSelector !== undefined) query.set('labelSelector', kind.labelSelector);
  transport.get(`${kind.collectionPath(request.namespace)}?${query}`, controller.signal).then(
    async (answer) => {
      if (done) {
        answer.body.destroy();
        return;
      }
      if (answer.status !== 200) {
        const text = await readAll(answer.body, 65_536).catch(() => '');
        finish(refused(transport, answer.status, text, 'watch', kind.resource));
        return;
      }
      listener.onOpen();
      readEvents(answer.body, kind, (event) => {
        if (!done) listener.onEvent(event);
      }).then(
        () => finish(),
        (error: unknown) => finish(error),
      );
    },
    (error: unknown) => finish(error),
  );
  return {
    abort: () => {
      done = true;
      controller.abort();
    },
  };
}

/** Reads newline-delimited watch events until the stream ends cleanly (resolves) or fails (rejects). */
function readEvents<Item extends ListedObject>(body: Readable, kind: ResourceKind<Item>, onEvent: (event: WatchEvent<Item>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let ended = false;
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      try {
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim() !== '') onEvent(toEvent(JSON.parse(line), kind));
          newline = buffered.indexOf('\n');
        }
        if (buffered.length > MAX_EVENT_BYTES) throw new Error(`a watch event is over ${MAX_EVENT_BYTES} bytes`);
      } catch (error) {
        body.destroy();
        reject(new Error(`unreadable watch event: ${(error as Error).message}`));
      }
    });
    body.once('end', () => {
      ended = true;
      resolve();
    });
    body.on('error', reject);
    body.once('close', () => {
      if (!ended) reject(new Error('the watch stream was cut off'));
    });
  });
}

function toEvent<Item extends ListedObject>(raw: { type?: unknown; object?: unknown }, kind: ResourceKind<Item>): WatchEvent<Item> {
  const object = raw.object as { metadata?: { name?: unknown; resourceVersion?: unknown }; code?: unknown; message?: unknown } | undefined;
  const resourceVersion = String(object?.metadata?.resourceVersion ?? '');
  switch (raw.type) {
    case 'ADDED':
    case 'MODIFIED': {
      const item = kind.decode(object);
      if (item !== undefined) return { type: raw.type, item };
      // No longer one to keep (a slice whose label emptied): as good as gone.
      return { type: 'DELETED', name: String(object?.metadata?.name ?? ''), resourceVersion };
    }
    case 'DELETED':
      return { type: 'DELETED', name: String(object?.metadata?.name ?? ''), resourceVersion };
    case 'BOOKMARK':
      return { type: 'BOOKMARK', resourceVersion };
    case 'ERROR':
      return { type: 'ERROR', code: typeof object?.code === 'number' ? object.code : undefined, message: String(object?.message ?? '') };
    default:
      throw new Error(`unknown event type ${JSON.stringify(raw.type)}`);
  }
}

/**
 * The whole body as text. Read as strings, not joined as one Buffer: a
 * megabyte-sized Buffer is allocated outside V8's heap, where glibc tends to
 * keep it once freed, and the process's RSS with it.
 */
export function readAll(body: Readable, maxChars: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = [];
    let size = 0;
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      size += chunk.length;
      if (size > maxChars) {
        body.destroy();
        reject(new Error(`the answer is over ${maxChars} characters`));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => resolve(chunks.join('')));
    body.on('error', reject);
    body.once('close', () => reject(new Error('the answer was cut off')));
  });
}

export function refused(transport: ApiTransport, status: number, body: string, request: ApiError['request'], resource: string): ApiError {
  if (status === 401) transport.unauthorized();
  return new ApiError(status, statusMessage(body) ?? `HTTP ${status}`, request, resource);
}

function statusMessage(body: string): string | undefined {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return body.slice(0, 200) || undefined;
  }
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
