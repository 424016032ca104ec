import { createHash } from 'node:crypto';

import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { DiscoveryRequest__Output } from '@grpc/grpc-js-xds/build/src/generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse } from '@grpc/grpc-js-xds/build/src/generated/envoy/service/discovery/v3/DiscoveryResponse.js';

import type { StreamObserver } from '../../common/grpc-metrics.js';
import { MalformedRequest } from '../../common/grpc-request-framing.js';
import { quoteInput } from '../validation.js';
import type { ResourceAnswer, XdsFeeds } from './xds-feeds.js';
import { parseXdsName, type ParsedName } from './xds-names.js';
import { TYPE_URLS, XDS_TYPES, type XdsType } from './xds-protos.js';
import { describeNode, nackReport, type StreamReport, type TypeReport } from './ads-report.js';

export type DiscoveryRequest = DiscoveryRequest__Output;
export type AdsCall = ServerDuplexStream<DiscoveryRequest | MalformedRequest, DiscoveryResponse>;

/** Names one stream may subscribe to per type; a process needs one per xds:/// target. */
export const MAX_NAMES_PER_TYPE = 100;
/** The error detail a NACK carries is kept up to this length. */
const MAX_NACK_DETAIL_CHARS = 1_000;
const TYPE_BY_URL = new Map<string, XdsType>(XDS_TYPES.map((type) => [TYPE_URLS[type], type]));
/**
 * A Listener or Cluster left out of a State-of-the-World response is deleted
 * by a client that had it, so their responses wait until every name is known
 * (found, or known not to exist). A RouteConfiguration or
 * ClusterLoadAssignment left out is only not updated: those go out without
 * the unknown names, unless that leaves nothing to send.
 */
const ALL_REQUIRED: ReadonlySet<XdsType> = new Set(['listener', 'cluster']);

/** What a stream needs from its server. */
export interface AdsStreamHost {
  readonly feeds: XdsFeeds<AdsStream>;
  readonly allowedNamespaces: ReadonlySet<string>;
  readonly controlPlane: string;
  now(): number;
  pushed(type: XdsType): void;
  nacked(type: XdsType, stream: AdsStream, message: string): void;
  subscriptionsChanged(type: XdsType, delta: number): void;
  closed(stream: AdsStream): void;
}

interface TypeState {
  /** Subscribed names, sorted, each read once. */
  names: ReadonlyArray<readonly [string, ParsedName]>;
  sent: { version: string; nonce: string; atMs: number } | undefined;
  ackedVersion: string | undefined;
  nack: { version: string; nonce: string; message: string; atMs: number } | undefined;
}

/**
 * One State-of-the-World ADS stream. Per resource type it keeps the names
 * subscribed, the last response sent (version, nonce) and what the client
 * said of it (ACK: its version; NACK: its error detail). A response goes out
 * only when its version differs from the last one sent: the version hashes
 * the names and the content, so a NACKed response is not sent again until
 * either changes. A request answering an older nonce than the last one sent
 * is stale and ignored whole, as the protocol asks.
 */
export class AdsStream {
  private readonly types = new Map<XdsType, TypeState>();
  private node: Record<string, unknown> | undefined;
  private nonces = 0;
  private writeBlocked = false;
  private inputEnded = false;
  private finished = false;
  readonly openedAtMs: number;
  /** Requests ignored for a stale nonce. */
  staleRequests = 0;

  constructor(
    private readonly call: AdsCall,
    private readonly observer: StreamObserver,
    private readonly host: AdsStreamHost,
  ) {
    this.openedAtMs = host.now();
  }

  start(): void {
    this.call.on('data', (request: DiscoveryRequest | MalformedRequest) => this.onRequest(request));
    this.call.on('end', () => {
      this.inputEnded = true;
      this.endIfAnswered();
    });
    this.call.on('cancelled', () => this.finish());
    this.call.on('error', () => this.finish());
    this.call.on('drain', () => {
      this.writeBlocked = false;
      this.refresh();
    });
  }

  /** Sends every type whose content changed since its last response. */
  refresh(): void {
    for (const type of this.types.keys()) this.push(type);
  }

  /** Ends the stream with `code` (OK: a clean end), dropping its subscriptions. */
  end(code: Status, message: string): void {
    if (this.finished) return;
    this.finish();
    this.observer.finished(code);
    if (code === Status.OK) this.call.end();
    else this.call.emit('error', { code, details: message });
  }

  describe(): StreamReport {
    const types: Partial<Record<XdsType, TypeReport>> = {};
    for (const [type, state] of this.types) {
      types[type] = {
        names: state.names.map(([name, parsed]) => ({ name, ...describeAnswer(this.answer(type, name, parsed)) })),
        sent_version: state.sent?.version ?? null,
        sent_nonce: state.sent?.nonce ?? null,
        acked_version: state.ackedVersion ?? null,
        last_nack: state.nack === undefined ? null : nackReport(state.nack),
      };
    }
    return { node: this.node ?? null, peer: this.call.getPeer(), opened_at: new Date(this.openedAtMs).toISOString(), stale_requests: this.staleRequests, types };
  }

  get nodeId(): string {
    return typeof this.node?.['id'] === 'string' ? this.node['id'] : '';
  }

  private onRequest(request: DiscoveryRequest | MalformedRequest): void {
    if (this.finished) return;
    this.observer.received();
    if (request instanceof MalformedRequest) {
      this.end(Status.INVALID_ARGUMENT, request.reason);
      return;
    }
    if (this.node === undefined && request.node !== null) this.node = describeNode(request.node);
    const type = TYPE_BY_URL.get(request.type_url);
    if (type === undefined) {
      this.end(Status.INVALID_ARGUMENT, `type_url ${quoteInput(request.type_url)} is not served; this server serves ${XDS_TYPES.map((t) => TYPE_URLS[t]).join(', ')}`);
      return;
    }
    if (request.resource_names.length > MAX_NAMES_PER_TYPE) {
      this.end(Status.RESOURCE_EXHAUSTED, `${request.resource_names.length} names of ${type} subscribed on one stream; at most ${MAX_NAMES_PER_TYPE}`);
      return;
    }
    const state = this.types.get(type) ?? { names: [], sent: undefined, ackedVersion: undefined, nack: undefined };
    this.types.set(type, state);
    if (request.response_nonce !== '') {
      if (request.response_nonce !== state.sent?.nonce) {
        this.staleRequests += 1;
        return;
      }
      this.acknowledge(type, state, request);
    }
    this.subscribe(type, state, request.resource_names);
    this.push(type);
  }

  private acknowledge(type: XdsType, state: TypeState, request: DiscoveryRequest): void {
    const error = request.error_detail;
    const sent = state.sent as NonNullable<TypeState['sent']>;
    if (error === null || (error.code === 0 && error.message === '')) {
      state.ackedVersion = request.version_info;
      return;
    }
    const message = error.message.length > MAX_NACK_DETAIL_CHARS ? `${error.message.slice(0, MAX_NACK_DETAIL_CHARS)}…` : error.message;
    state.nack = { version: sent.version, nonce: sent.nonce, message, atMs: this.host.now() };
    this.host.nacked(type, this, message);
  }

  private subscribe(type: XdsType, state: TypeState, requested: readonly string[]): void {
    const wanted = [...new Set(requested)].sort();
    const current = state.names;
    if (wanted.length === current.length && wanted.every((name, i) => current[i]?.[0] === name)) return;
    const before = new Map(current);
    const next = wanted.map((name) => [name, before.get(name) ?? parseXdsName(name, this.host.allowedNamespaces)] as const);
    const after = new Map(next);
    for (const [name, parsed] of next) if (!before.has(name) && parsed.ok) this.host.feeds.subscribe(parsed.target.key, this);
    for (const [name, parsed] of current) if (!after.has(name) && parsed.ok) this.host.feeds.unsubscribe(parsed.target.key, this);
    state.names = next;
    this.host.subscriptionsChanged(type, next.length - current.length);
  }

  private push(type: XdsType): void {
    const state = this.types.get(type);
    if (this.finished || this.writeBlocked || state === undefined) return;
    const resources: Array<{ type_url: string; value: Buffer }> = [];
    const hash = createHash('sha1').update(type);
    let unknown = false;
    for (const [name, parsed] of state.names) {
      const answer = this.answer(type, name, parsed);
      if (answer.kind === 'unknown') {
        if (ALL_REQUIRED.has(type)) return;
        unknown = true;
      }
      hash.update(`\u0000${name}\u0000${answer.kind === 'present' ? answer.digest : answer.kind}`);
      if (answer.kind === 'present') resources.push(answer.resource);
    }
    // Nothing to say yet: every name it would carry is still unknown.
    if (unknown && resources.length === 0) return;
    const version = hash.digest('base64url').slice(0, 16);
    if (version === state.sent?.version) return;
    this.nonces += 1;
    const nonce = String(this.nonces);
    state.sent = { version, nonce, atMs: this.host.now() };
    const response: DiscoveryResponse = {
      version_info: version,
      resources,
      type_url: TYPE_URLS[type],
      nonce,
      control_plane: { identifier: this.host.controlPlane },
    };
    if (!this.call.write(response)) this.writeBlocked = true;
    this.observer.sent();
    this.host.pushed(type);
    this.endIfAnswered();
  }

  /**
   * A client that half-closed (grpcurl, buf curl: one request, then the end
   * of input) sends nothing more: the stream ends once every type it asked
   * for has had an answer. xDS clients never half-close; their streams stay.
   */
  private endIfAnswered(): void {
    if (this.inputEnded && [...this.types.values()].every((state) => state.sent !== undefined)) this.end(Status.OK, '');
  }

  private answer(type: XdsType, name: string, parsed: ParsedName): ResourceAnswer {
    return parsed.ok ? this.host.feeds.answer(type, name, parsed.target) : { kind: 'absent', problem: parsed.problem };
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const [type, state] of this.types) {
      for (const [, parsed] of state.names) if (parsed.ok) this.host.feeds.unsubscribe(parsed.target.key, this);
      this.host.subscriptionsChanged(type, -state.names.length);
      state.names = [];
    }
    this.host.closed(this);
  }
}

function describeAnswer(answer: ResourceAnswer): { state: ResourceAnswer['kind']; problem?: string } {
  return answer.kind === 'present' ? { state: 'present' } : { state: answer.kind, problem: answer.problem };
}
