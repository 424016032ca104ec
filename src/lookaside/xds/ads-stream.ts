import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { DiscoveryRequest__Output } from '@grpc/grpc-js-xds/build/src/generated/envoy/service/discovery/v3/DiscoveryRequest.js';

import type { StreamObserver } from '../../common/grpc-metrics.js';
import { MalformedRequest } from '../../common/grpc-request-framing.js';
import { callPeer } from '../../common/grpc-stream-proxy.js';
import { quoteInput } from '../validation.js';
import type { ResourceAnswer, XdsFeeds } from './xds-feeds.js';
import type { ParsedName } from './xds-names.js';
import type { SharedResponses } from './shared-responses.js';
import { Subscriptions, type Subscription } from './subscriptions.js';
import { TYPE_URLS, XDS_TYPES, type XdsType } from './xds-protos.js';
import { describeNode, nackReport, type StreamReport, type TypeReport } from './ads-report.js';

export type DiscoveryRequest = DiscoveryRequest__Output;
/** Responses go out encoded (SharedResponses); the service's serializer passes the bytes through. */
export type AdsCall = ServerDuplexStream<DiscoveryRequest | MalformedRequest, Buffer>;

/** Names one stream may subscribe to per type; a process needs one per xds:/// target. */
export const MAX_NAMES_PER_TYPE = 100;
/** The error detail a NACK carries is kept up to this length. */
const MAX_NACK_DETAIL_CHARS = 1_000;
const TYPE_BY_URL = new Map<string, XdsType>(XDS_TYPES.map((type) => [TYPE_URLS[type], type]));

/** What a stream needs from its server. */
export interface AdsStreamHost {
  readonly feeds: XdsFeeds<AdsStream>;
  readonly responses: SharedResponses;
  readonly subscriptions: Subscriptions;
  now(): number;
  pushed(type: XdsType): void;
  nacked(type: XdsType, stream: AdsStream, message: string): void;
  subscriptionsChanged(type: XdsType, delta: number): void;
  closed(stream: AdsStream): void;
}

interface TypeState {
  subscription: Subscription;
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
        names: state.subscription.names.map(([name, parsed]) => ({ name, ...describeAnswer(this.answer(type, name, parsed)) })),
        sent_version: state.sent?.version ?? null,
        sent_nonce: state.sent?.nonce ?? null,
        acked_version: state.ackedVersion ?? null,
        last_nack: state.nack === undefined ? null : nackReport(state.nack),
      };
    }
    return { node: this.node ?? null, peer: callPeer(this.call), opened_at: new Date(this.openedAtMs).toISOString(), stale_requests: this.staleRequests, types };
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
    const state = this.types.get(type) ?? { subscription: Subscriptions.EMPTY, sent: undefined, ackedVersion: undefined, nack: undefined };
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
    const current = state.subscription;
    const next = this.host.subscriptions.acquire(requested);
    if (next === current) {
      this.host.subscriptions.release(next);
      return;
    }
    const before = new Set(current.names.map(([name]) => name));
    const after = new Set(next.names.map(([name]) => name));
    for (const [name, parsed] of next.names) if (!before.has(name) && parsed.ok) this.host.feeds.subscribe(parsed.target.key, this);
    for (const [name, parsed] of current.names) if (!after.has(name) && parsed.ok) this.host.feeds.unsubscribe(parsed.target.key, this);
    this.host.subscriptions.release(current);
    state.subscription = next;
    this.host.subscriptionsChanged(type, next.names.length - current.names.length);
  }

  private push(type: XdsType): void {
    const state = this.types.get(type);
    if (this.finished || this.writeBlocked || state === undefined) return;
    const response = this.host.responses.response(type, state.subscription);
    if (response === undefined || response.version === state.sent?.version) return;
    this.nonces += 1;
    const nonce = String(this.nonces);
    state.sent = { version: response.version, nonce, atMs: this.host.now() };
    if (!this.call.write(Buffer.concat([response.body, this.host.responses.nonceField(nonce)]))) this.writeBlocked = true;
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
      for (const [, parsed] of state.subscription.names) if (parsed.ok) this.host.feeds.unsubscribe(parsed.target.key, this);
      this.host.subscriptionsChanged(type, -state.subscription.names.length);
      this.host.subscriptions.release(state.subscription);
      state.subscription = Subscriptions.EMPTY;
    }
    this.host.closed(this);
  }
}

function describeAnswer(answer: ResourceAnswer): { state: ResourceAnswer['kind']; problem?: string } {
  return answer.kind === 'present' ? { state: 'present' } : { state: answer.kind, problem: answer.problem };
}
