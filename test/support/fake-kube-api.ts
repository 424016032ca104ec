import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

import { stringify } from 'yaml';

import type { ApiAccess } from '../../src/lookaside/discovery/api-access.js';

/**
 * A small HTTP server that speaks the part of the Kubernetes API the lookaside
 * uses: list (paginated with `limit` and `continue`) and watch of
 * `discovery.k8s.io/v1` EndpointSlices in a namespace, filtered by label
 * selector (`key=value` or `key` present). It keeps a global resourceVersion counter and an
 * event history, so a watch from an old version replays what happened since,
 * and a watch from a version older than the compaction mark gets the API
 * server's `ERROR` event with a 410 `Expired` Status.
 *
 * Tests drive it with `applySlice`, `deleteSlice`, `sendBookmark`, `sendBookmarksEvery`,
 * `expireWatches`, `dropWatches`, `endWatches`, `failNext` and `setOutage`, and
 * read back what the client asked for from `requests`.
 */

export const DEFAULT_TOKEN = 'fake-token-for-lookaside';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const SLICES_PATH = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/;

/** A `discovery.k8s.io/v1` EndpointSlice, as the API server returns it. */
export interface EndpointSliceObject {
  kind?: 'EndpointSlice';
  apiVersion?: 'discovery.k8s.io/v1';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    creationTimestamp: string;
    labels: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }>;
  };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  /** The API server sends `null` (not `[]`) for a slice without endpoints. */
  endpoints: Array<{
    addresses: string[];
    conditions: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind: 'Pod'; name: string; namespace: string; uid: string };
    nodeName?: string;
    zone?: string;
  }> | null;
  /** `null` on the controller's placeholder slice of a Service with no endpoints. */
  ports: Array<{ name?: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP'; appProtocol?: string }> | null;
}

/** What a test says about one endpoint; everything but the IP has a realistic default. */
export interface EndpointSpec {
  readonly ip: string;
  readonly pod?: string;
  /** `null` is legal in the API and means ready. */
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
  readonly node?: string;
  readonly zone?: string;
}

export interface SliceSpec {
  /** The Service the slice belongs to (its `kubernetes.io/service-name` label). */
  readonly service: string;
  /** Defaults to `<service>-<5 random letters>`, as the EndpointSlice controller names them. */
  readonly name?: string;
  readonly endpoints: readonly EndpointSpec[];
  /** Defaults to one port named `grpc`, 50051; `[]` gives the placeholder's `ports: null`. */
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly port: number }>;
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
}

/** The shape of a slice before the server stamps its metadata (name, version, uid). */
export type SliceBody = Omit<EndpointSliceObject, 'metadata'> & {
  metadata: { name: string; labels: Record<string, string> };
};

/** Builds a real-shaped EndpointSlice body for `applySlice`. */
export function endpointSlice(spec: SliceSpec): SliceBody {
  const name = spec.name ?? `${spec.service}-${randomLetters(5)}`;
  const ports = spec.ports ?? [{ name: 'grpc', port: 50051 }];
  return {
    addressType: spec.addressType ?? 'IPv4',
    metadata: {
      name,
      labels: {
        [SERVICE_NAME_LABEL]: spec.service,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
    },
    endpoints: spec.endpoints.length === 0 ? null : spec.endpoints.map((endpoint, index) => {
      const pod = endpoint.pod ?? `${spec.service}-7d9f8b6c5-${randomLetters(4)}${index}`;
      const terminating = endpoint.terminating ?? false;
      return {
        addresses: [endpoint.ip],
        conditions: {
          ready: endpoint.ready === undefined ? !terminating : endpoint.ready,
          serving: endpoint.serving === undefined ? endpoint.ready !== false : endpoint.serving,
          terminating,
        },
        targetRef: { kind: 'Pod', name: pod, namespace: '', uid: randomUUID() },
        nodeName: endpoint.node ?? 'minikube',
        zone: endpoint.zone ?? 'zone-a',
      };
    }),
    ports:
      ports.length === 0
        ? null
        : ports.map((port) => ({
            ...(port.name === undefined ? {} : { name: port.name }),
            port: port.port,
            protocol: 'TCP' as const,
          })),
  };
}

/** One request the fake served (or refused), as the client sent it. */
export interface RecordedRequest {
  readonly kind: 'list' | 'watch';
  readonly namespace: string;
  readonly labelSelector: string | null;
  readonly resourceVersion: string | null;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
  /** The HTTP status answered. */
  readonly status: number;
  /** `performance.now()` when it arrived. */
  readonly atMs: number;
}

interface HistoryEvent {
  readonly resourceVersion: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: EndpointSliceObject;
}

/** Label requirements: a value to equal, or null for "present". */
type Selector = ReadonlyMap<string, string | null>;

interface OpenWatch {
  readonly namespace: string;
  readonly selector: Selector;
  readonly bookmarks: boolean;
  readonly response: ServerResponse;
  readonly socket: Socket;
  /** Versions up to this one have been sent (or skipped) on this watch. */
  sentUpTo: number;
  timeout: NodeJS.Timeout | undefined;
}

/** Which requests `failNext` applies to; by default every list and watch. */
export interface FailureFilter {
  readonly kinds?: ReadonlyArray<'list' | 'watch'>;
  /** Only requests in this namespace. */
  readonly namespace?: string;
}

interface Failure {
  readonly status: number;
  readonly kinds: ReadonlySet<'list' | 'watch'>;
  readonly namespace: string | undefined;
}

export class FakeKubeApi {
  /** Every list and watch request, oldest first. */
  readonly requests: RecordedRequest[] = [];
  /** Connections reset because the server was "down" (`setOutage`). */
  refusedConnections = 0;
  /** Connections accepted since the start. */
  acceptedConnections = 0;
  private readonly slices = new Map<string, EndpointSliceObject>();
  private readonly history: HistoryEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private readonly failures: Failure[] = [];
  private version = 100;
  /** History up to this version is compacted away: a watch from an older version gets 410 Expired. */
  private compactedAt = 0;
  private outage = false;
  private heldLists: Array<() => void> | undefined;
  private stopBookmarks: () => void = () => undefined;

  private constructor(
    private readonly server: Server,
    readonly token: string,
  ) {}

  /** Starts the fake on 127.0.0.1 with an ephemeral port. */
  static async start(token = DEFAULT_TOKEN): Promise<FakeKubeApi> {
    const server = createServer();
    const fake = new FakeKubeApi(server, token);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => fake.handle(request, response));
    server.on('connection', (socket: Socket) => {
      if (fake.outage) {
        fake.refusedConnections++;
        socket.destroy();
        return;
      }
      fake.acceptedConnections++;
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The current global resourceVersion (the last write anywhere in the "cluster"). */
  get resourceVersion(): number {
    return this.version;
  }

  /** Client connections open now. */
  get openConnectionCount(): number {
    return this.sockets.size;
  }

  get openWatchCount(): number {
    return this.watches.size;
  }

  /** List requests, every page counted. */
  get listCount(): number {
    return this.requests.filter((request) => request.kind === 'list').length;
  }

  /** Lists started (first pages: no `continue`), per namespace when given. */
  listsStarted(namespace?: string): number {
    return this.requests.filter(
      (request) => request.kind === 'list' && !request.query.has('continue') && (namespace === undefined || request.namespace === namespace),
    ).length;
  }

  get watchCount(): number {
    return this.requests.filter((request) => request.kind === 'watch').length;
  }

  /** The most recent request of a kind, if any. */
  lastRequest(kind: 'list' | 'watch'): RecordedRequest | undefined {
    return this.requests.filter((request) => request.kind === kind).at(-1);
  }

  /** Creates or replaces a slice (ADDED or MODIFIED on matching watches); returns it as stored. */
  applySlice(namespace: string, body: SliceBody): EndpointSliceObject {
    const key = `${namespace}/${body.metadata.name}`;
    const previous = this.slices.get(key);
    const stored = this.stamp(namespace, body, previous);
    this.slices.set(key, stored);
    this.record(previous === undefined ? 'ADDED' : 'MODIFIED', stored);
    return stored;
  }

  /** Deletes a slice (DELETED, carrying the deletion's resourceVersion); false if it did not exist. */
  deleteSlice(namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    const previous = this.slices.get(key);
    if (previous === undefined) return false;
    this.slices.delete(key);
    this.version++;
    this.record('DELETED', { ...previous, metadata: { ...previous.metadata, resourceVersion: String(this.version) } });
    return true;
  }

  /**
   * Changes a slice without telling any watch, as if the event had been lost
   * (what the periodic re-list is there to repair). A later list sees it.
   */
  applySliceSilently(namespace: string, body: SliceBody): EndpointSliceObject {
    const key = `${namespace}/${body.metadata.name}`;
    const stored = this.stamp(namespace, body, this.slices.get(key));
    this.slices.set(key, stored);
    for (const watch of this.watches) watch.sentUpTo = this.version;
    return stored;
  }

  /** Other objects in the cluster changed: the global version moves on, no slice event. */
  advanceResourceVersion(by = 1): number {
    this.version += by;
    return this.version;
  }

  /** Sends a BOOKMARK at the current version to every watch that allowed bookmarks. */
  sendBookmark(): void {
    for (const watch of this.watches) {
      if (!watch.bookmarks) continue;
      this.flushHistory(watch);
      watch.sentUpTo = this.version;
      writeEvent(watch.response, 'BOOKMARK', {
        kind: 'EndpointSlice',
        apiVersion: 'discovery.k8s.io/v1',
        metadata: { resourceVersion: String(this.version) },
      });
    }
  }

  /** Sends a BOOKMARK every `intervalMs`, as kube-apiserver does about every minute; returns a stop function. */
  sendBookmarksEvery(intervalMs: number): () => void {
    const timer = setInterval(() => this.sendBookmark(), intervalMs);
    timer.unref();
    this.stopBookmarks = () => clearInterval(timer);
    return this.stopBookmarks;
  }

  /**
   * Compacts history up to now and tells every open watch its version is gone:
   * an `ERROR` event with a 410 Expired Status, then the stream ends.
   */
  expireWatches(): void {
    this.compactedAt = this.version;
    for (const watch of [...this.watches]) {
      writeEvent(watch.response, 'ERROR', expiredStatus(watch.sentUpTo, this.version));
      this.closeWatch(watch);
    }
  }

  /** Sends every open watch an `ERROR` event with a Status of `code` (e.g. 500), then ends it. */
  failWatches(code: number): void {
    for (const watch of [...this.watches]) {
      writeEvent(watch.response, 'ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: messageFor(code, 'watch', watch.namespace),
        reason: reasonFor(code),
        code,
      });
      this.closeWatch(watch);
    }
  }

  /** Marks history up to now as compacted without touching open watches. */
  compact(): void {
    this.compactedAt = this.version;
  }

  /** Destroys the socket of every open watch, without ending the chunked response. */
  dropWatches(): void {
    for (const watch of [...this.watches]) {
      this.watches.delete(watch);
      clearTimeout(watch.timeout);
      watch.socket.destroy();
    }
  }

  /** Ends every open watch cleanly, as the API server does when `timeoutSeconds` runs out. */
  endWatches(): void {
    for (const watch of [...this.watches]) this.closeWatch(watch);
  }

  /**
   * While on, the server resets every new connection and has dropped every open
   * one: the API server is down. Turning it off brings it back.
   */
  setOutage(down: boolean): void {
    this.outage = down;
    if (!down) return;
    this.dropWatches();
    for (const socket of this.sockets) socket.destroy();
  }

  /** The next `count` matching requests are answered with `status` and a Status body. */
  failNext(count: number, status: number, filter: FailureFilter = {}): void {
    const kinds = new Set<'list' | 'watch'>(filter.kinds ?? ['list', 'watch']);
    for (let i = 0; i < count; i++) this.failures.push({ status, kinds, namespace: filter.namespace });
  }

  /** Lists are held unanswered until the returned function is called. */
  holdLists(): () => void {
    const held: Array<() => void> = [];
    this.heldLists = held;
    return () => {
      if (this.heldLists === held) this.heldLists = undefined;
      for (const answer of held.splice(0)) answer();
    };
  }

  async close(): Promise<void> {
    this.stopBookmarks();
    this.outage = true;
    this.heldLists = undefined;
    this.dropWatches();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const match = SLICES_PATH.exec(url.pathname);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const kind = watch ? 'watch' : 'list';
    const namespace = decodeURIComponent(match?.[1] ?? '');
    const recordAs = (status: number): void => {
      this.requests.push({
        kind,
        namespace,
        labelSelector: url.searchParams.get('labelSelector'),
        resourceVersion: url.searchParams.get('resourceVersion'),
        query: url.searchParams,
        authorization: request.headers.authorization,
        status,
        atMs: performance.now(),
      });
    };

    if (request.method !== 'GET' || match === null) {
      sendStatus(response, 404, 'NotFound', `the server could not find the requested resource (${request.method} ${url.pathname})`);
      return;
    }
    if (request.headers.authorization !== `Bearer ${this.token}`) {
      recordAs(401);
      sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const failureIndex = this.failures.findIndex(
      (failure) => failure.kinds.has(kind) && (failure.namespace === undefined || failure.namespace === namespace),
    );
    if (failureIndex >= 0) {
      const [failure] = this.failures.splice(failureIndex, 1);
      const status = failure?.status ?? 500;
      recordAs(status);
      sendStatus(response, status, reasonFor(status), messageFor(status, kind, namespace));
      return;
    }

    let selector: Selector;
    try {
      selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    } catch (error) {
      recordAs(400);
      sendStatus(response, 400, 'BadRequest', `unable to parse requirement: ${(error as Error).message}`);
      return;
    }
    recordAs(200);
    if (watch) this.startWatch(request, response, namespace, selector, url.searchParams);
    else if (this.heldLists !== undefined) this.heldLists.push(() => this.list(response, namespace, selector, url.searchParams));
    else this.list(response, namespace, selector, url.searchParams);
  }

  /**
   * One page: up to `limit` slices after the `continue` token's name. The
   * token carries the first page's resourceVersion, which every page reports;
   * one older than the compaction mark gets 410 Expired, as a real server does.
   */
  private list(response: ServerResponse, namespace: string, selector: Selector, query: URLSearchParams): void {
    const token = query.get('continue');
    const [tokenVersion, after] = token === null ? [this.version, ''] : decodeContinue(token);
    if (tokenVersion < this.compactedAt) {
      sendStatus(response, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      return;
    }
    const limit = Number(query.get('limit') ?? '0');
    const matching = [...this.slices.values()]
      .filter((slice) => matches(slice, namespace, selector) && slice.metadata.name > after)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const page = limit > 0 ? matching.slice(0, limit) : matching;
    const last = page.at(-1);
    const more = limit > 0 && matching.length > limit && last !== undefined;
    sendJson(response, 200, {
      kind: 'EndpointSliceList',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { resourceVersion: String(tokenVersion), ...(more ? { continue: encodeContinue(tokenVersion, last.metadata.name) } : {}) },
      // The API server leaves kind and apiVersion off the items of a list.
      items: page.map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => item),
    });
  }

  private startWatch(
    request: IncomingMessage,
    response: ServerResponse,
    namespace: string,
    selector: Selector,
    query: URLSearchParams,
  ): void {
    const requested = query.get('resourceVersion');
    response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    response.flushHeaders();
    const watch: OpenWatch = {
      namespace,
      selector,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
      response,
      socket: request.socket,
      sentUpTo: this.version,
      timeout: undefined,
    };

    if (requested === null || requested === '' || requested === '0') {
      // "Any version": the current state as synthetic ADDED events, then changes.
      for (const slice of this.slices.values()) {
        if (matches(slice, namespace, selector)) writeEvent(response, 'ADDED', withKind(slice));
      }
    } else {
      const from = Number(requested);
      if (!Number.isInteger(from) || from < this.compactedAt) {
        writeEvent(response, 'ERROR', expiredStatus(from, this.version));
        response.end();
        return;
      }
      watch.sentUpTo = from;
    }

    this.watches.add(watch);
    response.on('close', () => {
      this.watches.delete(watch);
      clearTimeout(watch.timeout);
    });
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      watch.timeout = setTimeout(() => this.closeWatch(watch), timeoutSeconds * 1000);
      watch.timeout.unref();
    }
    this.flushHistory(watch);
  }

  /** Sends a watch every matching event after its position, in version order. */
  private flushHistory(watch: OpenWatch): void {
    for (const event of this.history) {
      if (event.resourceVersion <= watch.sentUpTo) continue;
      if (matches(event.object, watch.namespace, watch.selector)) {
        writeEvent(watch.response, event.type, withKind(event.object));
      }
    }
    watch.sentUpTo = this.version;
  }

  private closeWatch(watch: OpenWatch): void {
    this.watches.delete(watch);
    clearTimeout(watch.timeout);
    watch.response.end();
  }

  private stamp(namespace: string, body: SliceBody, previous: EndpointSliceObject | undefined): EndpointSliceObject {
    this.version++;
    return {
      addressType: body.addressType,
      endpoints: body.endpoints?.map((endpoint) =>
        endpoint.targetRef === undefined ? endpoint : { ...endpoint, targetRef: { ...endpoint.targetRef, namespace } },
      ) ?? null,
      ports: body.ports,
      metadata: {
        name: body.metadata.name,
        namespace,
        uid: previous?.metadata.uid ?? randomUUID(),
        resourceVersion: String(this.version),
        generation: (previous?.metadata.generation ?? 0) + 1,
        creationTimestamp: previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        labels: { ...body.metadata.labels },
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name: body.metadata.labels[SERVICE_NAME_LABEL] ?? '',
            uid: randomUUID(),
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
    };
  }

  /** Appends an event at the current version and streams it to every watch it matches. */
  private record(type: HistoryEvent['type'], object: EndpointSliceObject): void {
    this.history.push({ resourceVersion: this.version, type, object });
    for (const watch of this.watches) this.flushHistory(watch);
  }
}

/** The access a kubeconfig for the fake gives, for in-process tests: the fake as the server, a bearer token. */
export function fakeApiAccess(server: string, token = DEFAULT_TOKEN): ApiAccess {
  return { server, tls: { rejectUnauthorized: false }, headers: { authorization: `Bearer ${token}` }, expiring: false };
}

/**
 * Writes a kubeconfig file (YAML) for a child process's KUBECONFIG. Client-node
 * 1.x only talks plain http:// when the cluster has `insecure-skip-tls-verify: true`.
 */
export function writeKubeconfigFile(directory: string, server: string, token = DEFAULT_TOKEN): string {
  const path = join(directory, 'kubeconfig.yaml');
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'lookaside', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'lookaside', namespace: 'default' } }],
    'current-context': 'fake',
  };
  writeFileSync(path, stringify(document), { mode: 0o600 });
  return path;
}

function matches(slice: EndpointSliceObject, namespace: string, selector: Selector): boolean {
  if (slice.metadata.namespace !== namespace) return false;
  for (const [key, value] of selector) {
    const label = slice.metadata.labels[key];
    if (value === null ? label === undefined : label !== value) return false;
  }
  return true;
}

/** Equality (`a=b,c==d`) and existence (`a`) requirements, which is all the lookaside sends. */
function parseSelector(selector: string): Map<string, string | null> {
  const requirements = new Map<string, string | null>();
  for (const part of selector.split(',')) {
    if (part.trim() === '') continue;
    const found = /^\s*([A-Za-z0-9./_-]+)\s*(?:==?\s*([A-Za-z0-9._-]*))?\s*$/.exec(part);
    if (found === null) throw new Error(`unsupported selector ${JSON.stringify(part)}`);
    requirements.set(found[1] as string, found[2] ?? null);
  }
  return requirements;
}

function encodeContinue(version: number, after: string): string {
  return Buffer.from(JSON.stringify([version, after])).toString('base64url');
}

function decodeContinue(token: string): [number, string] {
  const [version, after] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [number, string];
  return [version, after];
}

function withKind(slice: EndpointSliceObject): EndpointSliceObject {
  return { ...slice, kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1' };
}

function writeEvent(response: ServerResponse, type: string, object: unknown): void {
  if (!response.writableEnded) response.write(`${JSON.stringify({ type, object })}\n`);
}

function expiredStatus(requested: number, current: number): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version: ${requested} (${current})`,
    reason: 'Expired',
    code: 410,
  };
}

function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(response, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details: { group: 'discovery.k8s.io', kind: 'endpointslices' },
    code,
  });
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function reasonFor(status: number): string {
  switch (status) {
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServiceUnavailable';
    default:
      return 'InternalError';
  }
}

function messageFor(status: number, kind: 'list' | 'watch', namespace: string): string {
  if (status === 403) {
    return (
      `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:default:lookaside" ` +
      `cannot ${kind} resource "endpointslices" in API group "discovery.k8s.io" in the namespace "${namespace}"`
    );
  }
  if (status === 429) return 'storage is (re)initializing';
  return `Internal error occurred: fake API server failure (HTTP ${status})`;
}

function randomLetters(count: number): string {
  const letters = 'bcdfghjklmnpqrstvwxz2456789';
  let text = '';
  for (let i = 0; i < count; i++) text += letters[Math.floor(Math.random() * letters.length)];
  return text;
}
