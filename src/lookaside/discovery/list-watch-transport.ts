import type { Readable } from 'node:stream';

import type { ApiTransport } from './api-transport.js';
import { ApiError, type ListedObject, type ListWatchApi, type ResourceKind, type WatchEvent, type WatchHandle, type WatchListener, type WatchRequest } from './kubernetes-api.js';

/**
 * List and watch over the lookaside's transport, for any kind of object a
 * ResourceKind describes (EndpointSlices, GRPCRoutes): pages read as text,
 * watch events read line by line, errors as ApiError.
 */

/** A list page larger than this is refused rather than held in memory. */
const MAX_LIST_CHARS = 64 * 2 ** 20;
/** A watch event larger than this ends the watch (an EndpointSlice holds at most 1,000 endpoints). */
const MAX_EVENT_BYTES = 16 * 2 ** 20;

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

