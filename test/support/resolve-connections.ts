import { Client, credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';

/** A lookaside.v1 Resolve answer or error, as a grpc-js client gets it. */
export type UnaryAnswer = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly code: number; readonly message: string };

/** No call waits longer than this, even on a connection to a worker that died. */
const CALL_DEADLINE_MS = 5_000;

const LOOKASIDE_V1 = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside');

/**
 * lookaside.v1 Resolve clients, each on its own TCP connection (grpc-js would
 * otherwise share one connection between clients of the same target), so that
 * calls reach every LB_WORKERS worker: each connection stays with the worker that accepted it.
 */
export class ResolveConnections {
  private readonly clients: Client[];

  constructor(target: string, count: number, channelCredentials: ChannelCredentials = credentials.createInsecure()) {
    this.clients = Array.from({ length: count }, () => new Client(target, channelCredentials, { 'grpc.use_local_subchannel_pool': 1 }));
  }

  get size(): number {
    return this.clients.length;
  }

  /** One unary Resolve on connection `index`. */
  resolve(index: number, request: Record<string, unknown>): Promise<UnaryAnswer> {
    const method = LOOKASIDE_V1.service['Resolve'];
    const client = this.clients[index];
    if (method === undefined || client === undefined) throw new Error(`no connection ${index}`);
    return new Promise((resolve) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline: Date.now() + CALL_DEADLINE_MS }, (error: ServiceError | null, answer?: unknown) => {
        if (error !== null) resolve({ ok: false, code: error.code, message: error.details });
        else resolve({ ok: true, address: (answer as { address: string }).address });
      });
    });
  }

  /** `total` Resolves of `request`, spread evenly over the connections, `perConnection` in flight on each. */
  async resolveMany(total: number, request: Record<string, unknown>, perConnection = 8): Promise<UnaryAnswer[]> {
    const answers: UnaryAnswer[] = [];
    let next = 0;
    const loop = async (index: number): Promise<void> => {
      while (next < total) {
        next += 1;
        answers.push(await this.resolve(index, request));
      }
    };
    await Promise.all(this.clients.flatMap((_, index) => Array.from({ length: perConnection }, () => loop(index))));
    return answers;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}
