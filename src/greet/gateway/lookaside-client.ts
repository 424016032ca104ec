import type { SecureClientSessionOptions } from 'node:http2';
import { isIP } from 'node:net';

import { status as Status } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../common/grpc.js';
import { RESOLVE_ERROR_DOMAIN } from '../../common/resolve-reasons.js';
import { CallReports } from './call-reports.js';
import type { KeepaliveSettings, LookasideApi, ResolvePolicy } from './config.js';
import { GrpcHttp2Client } from './grpc-http2-client.js';
import type { UnaryResult } from './grpc-unary-call.js';
import { frameMessage } from './grpc-wire.js';
import { classifyLookasideError, type ResolveFailure } from './lookaside-answers.js';
import { ResolveStreamClient, type StreamAnswer } from './resolve-stream-client.js';
import { joinHostPort, splitIpPort } from '../../common/addresses.js';
import type { Response__Output as SeedResponse__Output } from '../../generated/lookaside/Response.js';
import type { ResolveRequest, _lookaside_v1_ResolveRequest_Policy__Output as V1Policy } from '../../generated/lookaside/v1/ResolveRequest.js';
import type { ResolveResponse__Output } from '../../generated/lookaside/v1/ResolveResponse.js';

/** The lookaside's two APIs: the versioned one, and the seed one kept for old clients. */
const APIS = {
  v1: { proto: 'lookaside/v1/lookaside.proto', service: 'lookaside.v1.Lookaside' },
  seed: { proto: 'lookaside/lookaside.proto', service: 'lookaside.Lookaside' },
} as const;

/** A Resolve answer is a few short strings; anything near this is not a lookaside. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Checked answer addresses kept; far more than the pods of one Service. */
const MAX_REMEMBERED_ADDRESSES = 4_096;
/** After a lookaside answered UNIMPLEMENTED to ResolveStream, unary Resolve is used this long before the stream is tried again. */
export const STREAM_RETRY_AFTER_UNIMPLEMENTED_MS = 60_000;
/**
 * Reports ride on the next Resolve; when none comes for this long (the gateway
 * went quiet), they are sent on their own, so the lookaside does not keep
 * counting the last calls as outstanding.
 */
export const REPORT_FLUSH_DELAY_MS = 100;

/** lookaside.v1's policy names, by the gateway's LB_POLICY. */
const V1_POLICY: Readonly<Record<ResolvePolicy, V1Policy>> = {
  round_robin: 'ROUND_ROBIN',
  random: 'RANDOM',
  least_request: 'LEAST_REQUEST',
  weighted_round_robin: 'WEIGHTED_ROUND_ROBIN',
};

export interface LookasideClientOptions {
  /** `host:port` of the lookaside. */
  readonly target: string;
  readonly api: LookasideApi;
  readonly service: string;
  readonly namespace: string;
  readonly policy: ResolvePolicy;
  /** Port to use when the answer carries an IP only (the seed API). */
  readonly defaultPort: number;
  readonly timeoutMs: number;
  readonly keepalive: KeepaliveSettings;
  /** v1 only: tell the lookaside how every call ended (default true). */
  readonly reportCalls?: boolean;
  /** Told each time the connection to the lookaside is given up as dead. */
  readonly onConnectionDropped?: (reason: string) => void;
  /** Set: TLS to the lookaside, with the options it returns for each new connection. */
  readonly tls?: () => SecureClientSessionOptions;
}

export type ResolveResult =
  | { readonly ok: true; readonly address: string; readonly podName: string }
  | {
      readonly ok: false;
      readonly failure: ResolveFailure;
      readonly code: Status;
      /** The lookaside's message, or the transport's: for logs, not for callers. */
      readonly message: string;
    };

/** A Resolve answer of either API: v1's has `ip:port` and the pod's name, the seed's an IP only. */
type ResolveAnswer = ResolveResponse__Output | SeedResponse__Output;

/**
 * Asks the lookaside which pod takes the next call, each time with a short
 * deadline, over one long-lived HTTP/2 connection. With the v1 API: one
 * message on one long-lived ResolveStream per call; with the seed API, or a
 * lookaside too old for ResolveStream: one unary Resolve per call.
 */
export class LookasideClient {
  private readonly client: GrpcHttp2Client;
  private readonly path: string;
  /** The question never changes, so it is encoded once (the seed API's, framed; v1's, to carry reports). */
  private readonly requestFrame: Buffer;
  private readonly question: Buffer;
  private readonly reportOnlyQuestion: Buffer;
  /** Calls not yet reported; undefined when this client reports none (seed API, or reporting off). */
  private readonly reports: CallReports | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** A Resolve carried reports since the flush timer was armed: more will follow, no need to send them alone. */
  private reportsSentSinceArmed = false;
  private readonly deserialize: (bytes: Buffer) => ResolveAnswer;
  private readonly stream: ResolveStreamClient<ResolveAnswer> | undefined;
  /** An answer's address as dialled ('' when unusable), so the same few pods are not parsed on every request. */
  private readonly dialledAddresses = new Map<string, string>();
  /** Unary Resolve until then, because the lookaside answered UNIMPLEMENTED to ResolveStream. */
  private unaryUntilMs = 0;

  constructor(private readonly options: LookasideClientOptions) {
    const api = APIS[options.api];
    const service = serviceConstructor(loadProtos([api.proto]).grpcObject, api.service).service;
    const method = service['Resolve'];
    if (method === undefined) throw new Error(`${api.service} has no Resolve method`);
    this.path = method.path;
    this.deserialize = method.responseDeserialize as (bytes: Buffer) => ResolveAnswer;
    const reportCalls = options.api === 'v1' && options.reportCalls !== false;
    const request =
      options.api === 'v1'
        ? ({
            service: options.service,
            namespace: options.namespace,
            policy: V1_POLICY[options.policy],
            port_name: '',
            reports_calls: reportCalls,
          } satisfies ResolveRequest)
        : {
            router: options.policy === 'random' ? 'RANDOM' : 'ROUNDROBIN',
            service: options.service,
            namespace: options.namespace,
          };
    this.question = method.requestSerialize(request);
    this.requestFrame = frameMessage(this.question);
    this.reportOnlyQuestion = method.requestSerialize({ ...request, reports_calls: false, report_only: true });
    this.reports = reportCalls ? new CallReports() : undefined;
    const client = new GrpcHttp2Client({
      authority: options.target,
      maxMessageBytes: MAX_ANSWER_BYTES,
      keepaliveTimeMs: options.keepalive.timeMs,
      keepaliveTimeoutMs: options.keepalive.timeoutMs,
      onConnectionDropped: options.onConnectionDropped,
      tls: options.tls,
    });
    this.client = client;
    const streamMethod = service['ResolveStream'];
    if (streamMethod !== undefined) {
      this.stream = new ResolveStreamClient<ResolveAnswer>({
        open: (handlers) => client.openStream(streamMethod.path, handlers),
        requestFrame: this.requestFrame,
        deserialize: streamMethod.responseDeserialize as (bytes: Buffer) => StreamAnswer<ResolveAnswer>,
        timeoutMs: options.timeoutMs,
        onLateAnswer: (answer) => {
          const picked = answer.code === Status.OK ? answer.response?.address : undefined;
          if (picked) this.notCalled(picked);
        },
      });
    }
  }

  /** Never rejects: failures come back as data. Carries the calls reported since the last request. */
  resolve(): Promise<ResolveResult> {
    const reports = this.reports;
    if (reports === undefined) return this.send(this.requestFrame);
    if (reports.size > 0) this.reportsSentSinceArmed = true;
    return this.send(reports.frame(this.question));
  }

  /**
   * How a call to `address` ended (`code` its gRPC status), for the next
   * Resolve to carry; sent on its own if none comes soon.
   */
  report(address: string, code: number, latencyMicros: number): void {
    const reports = this.reports;
    if (reports === undefined) return;
    reports.add(address, code, latencyMicros);
    if (this.flushTimer === undefined) this.armFlush();
  }

  /** An answer no call was made with: the lookaside stops counting it as outstanding. */
  notCalled(address: string): void {
    const reports = this.reports;
    if (reports === undefined) return;
    reports.addNotCalled(address);
    if (this.flushTimer === undefined) this.armFlush();
  }

  close(): void {
    clearTimeout(this.flushTimer);
    this.stream?.close();
    this.client.close();
  }

  private armFlush(): void {
    this.reportsSentSinceArmed = false;
    this.flushTimer = setTimeout(() => this.flushReports(), REPORT_FLUSH_DELAY_MS);
    this.flushTimer.unref();
  }

  private flushReports(): void {
    this.flushTimer = undefined;
    const reports = this.reports;
    if (reports === undefined || reports.size === 0) return;
    // Requests are flowing and carry the reports: check again later rather than send an extra message.
    if (this.reportsSentSinceArmed) {
      this.armFlush();
      return;
    }
    void this.send(reports.frame(this.reportOnlyQuestion));
  }

  private async send(frame: Buffer): Promise<ResolveResult> {
    if (this.stream !== undefined && Date.now() >= this.unaryUntilMs) {
      const streamed = await this.stream.resolve(frame);
      if (streamed.kind === 'answer') return this.fromStream(streamed.answer);
      if (streamed.kind === 'unreachable') return { ok: false, failure: 'unreachable', code: streamed.code, message: streamed.message };
      this.unaryUntilMs = Date.now() + STREAM_RETRY_AFTER_UNIMPLEMENTED_MS;
    }
    const result = await this.client.call(this.path, frame, this.options.timeoutMs);
    return result.ok ? this.decode(result.message) : failure(result);
  }

  private fromStream(answer: StreamAnswer<ResolveAnswer>): ResolveResult {
    if (answer.code !== Status.OK) return answeredError(answer.code as Status, answer.message, answer.reason);
    if (answer.response === null) return fault('the lookaside answered OK without a response');
    return this.fromAnswer(answer.response);
  }

  private decode(message: Buffer): ResolveResult {
    let answer: ResolveAnswer;
    try {
      answer = this.deserialize(message);
    } catch (error) {
      return fault(`cannot decode the answer: ${(error as Error).message}`);
    }
    return this.fromAnswer(answer);
  }

  private fromAnswer(answer: ResolveAnswer): ResolveResult {
    let address = this.dialledAddresses.get(answer.address);
    if (address === undefined) {
      address = toAddress(answer, this.options.defaultPort) ?? '';
      if (this.dialledAddresses.size >= MAX_REMEMBERED_ADDRESSES) this.dialledAddresses.clear();
      this.dialledAddresses.set(answer.address, address);
    }
    if (address === '') return fault(`the lookaside answered with an unusable address ${JSON.stringify(answer.address)}`);
    return { ok: true, address, podName: 'pod_name' in answer ? answer.pod_name : '' };
  }
}

function failure(result: Extract<UnaryResult, { ok: false }>): ResolveResult {
  if (result.fromServer) {
    const reason = result.errorInfo?.domain === RESOLVE_ERROR_DOMAIN ? result.errorInfo.reason : '';
    return answeredError(result.code, result.details, reason);
  }
  return { ok: false, failure: 'unreachable', code: result.code, message: result.details };
}

/** An error status the lookaside sent, with its reason ('' from a lookaside too old to send one). */
function answeredError(code: Status, message: string, reason: string): ResolveResult {
  return { ok: false, failure: classifyLookasideError(code, reason), code, message };
}

/** An answer the gateway cannot use. */
function fault(message: string): ResolveResult {
  return { ok: false, failure: 'lookaside-fault', code: Status.INTERNAL, message };
}

/** "ip:port" as dialled; the port from the answer, else the configured one. */
function toAddress(answer: ResolveAnswer, defaultPort: number): string | undefined {
  const text = answer.address;
  if (isIP(text) !== 0) return joinHostPort(text, defaultPort);
  return splitIpPort(text) === undefined ? undefined : text;
}
