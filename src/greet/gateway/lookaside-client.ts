import { isIP } from 'node:net';

import { status as Status } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../common/grpc.js';
import type { LookasideApi, ResolvePolicy } from './config.js';
import { frameMessage, GrpcUnaryClient, type UnaryResult } from './grpc-unary-client.js';

/** The lookaside's two APIs: the versioned one, and the seed one kept for old clients. */
const APIS = {
  v1: { proto: 'lookaside/v1/lookaside.proto', service: 'lookaside.v1.Lookaside' },
  seed: { proto: 'lookaside/lookaside.proto', service: 'lookaside.Lookaside' },
} as const;

/** A Resolve answer is a few short strings; anything near this is not a lookaside. */
const MAX_ANSWER_BYTES = 64 * 1024;

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
}

export type ResolveResult =
  | { readonly ok: true; readonly address: string; readonly podName: string }
  | {
      readonly ok: false;
      /**
       * False when the lookaside could not be asked (down, unreachable, too
       * slow); true when it answered with an error such as NOT_FOUND.
       */
      readonly reachable: boolean;
      readonly code: Status;
      readonly message: string;
    };

interface ResolveAnswer {
  /** v1: "ip:port"; seed: an IP. */
  address: string;
  /** v1 only. */
  pod_name?: string;
}

/**
 * Asks the lookaside which pod takes the next call: one long-lived HTTP/2
 * connection, one Resolve per call, each with a short deadline.
 */
export class LookasideClient {
  private readonly client: GrpcUnaryClient;
  private readonly path: string;
  /** The question never changes, so it is encoded once. */
  private readonly requestFrame: Buffer;
  private readonly deserialize: (bytes: Buffer) => ResolveAnswer;

  constructor(private readonly options: LookasideClientOptions) {
    const api = APIS[options.api];
    const method = serviceConstructor(loadProtos([api.proto]).grpcObject, api.service).service['Resolve'];
    if (method === undefined) throw new Error(`${api.service} has no Resolve method`);
    this.path = method.path;
    this.deserialize = method.responseDeserialize as (bytes: Buffer) => ResolveAnswer;
    const request =
      options.api === 'v1'
        ? {
            service: options.service,
            namespace: options.namespace,
            policy: options.policy === 'random' ? 'RANDOM' : 'ROUND_ROBIN',
            port_name: '',
          }
        : {
            router: options.policy === 'random' ? 'RANDOM' : 'ROUNDROBIN',
            service: options.service,
            namespace: options.namespace,
          };
    this.requestFrame = frameMessage(method.requestSerialize(request));
    this.client = new GrpcUnaryClient({ authority: options.target, maxResponseBytes: MAX_ANSWER_BYTES });
  }

  /** Never rejects: failures come back as data. */
  async resolve(): Promise<ResolveResult> {
    const result = await this.client.call(this.path, this.requestFrame, this.options.timeoutMs);
    return result.ok ? this.decode(result.message) : failure(result);
  }

  close(): void {
    this.client.close();
  }

  private decode(message: Buffer): ResolveResult {
    let answer: ResolveAnswer;
    try {
      answer = this.deserialize(message);
    } catch (error) {
      return { ok: false, reachable: true, code: Status.INTERNAL, message: `cannot decode the answer: ${(error as Error).message}` };
    }
    const address = toAddress(answer, this.options.defaultPort);
    if (address === undefined) {
      return {
        ok: false,
        reachable: true,
        code: Status.INTERNAL,
        message: `the lookaside answered with an unusable address ${JSON.stringify(answer.address)}`,
      };
    }
    return { ok: true, address, podName: answer.pod_name ?? '' };
  }
}

function failure(result: Extract<UnaryResult, { ok: false }>): ResolveResult {
  return { ok: false, reachable: result.fromServer, code: result.code, message: result.details };
}

/** "ip:port" as dialled; the port from the answer, else the configured one. */
function toAddress(answer: ResolveAnswer, defaultPort: number): string | undefined {
  const text = answer.address;
  if (isIP(text) === 4) return `${text}:${defaultPort}`;
  if (isIP(text) === 6) return `[${text}]:${defaultPort}`;
  const match = /^(\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const ip = match?.[2] ?? match?.[3] ?? '';
  const port = Number(match?.[4]);
  if (isIP(ip) === 0) return undefined;
  return port >= 1 && port <= 65_535 ? text : undefined;
}
