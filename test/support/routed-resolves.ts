import { Client, credentials } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';

/** One ResolveStream answer: the endpoint's address, or the failure's reason and message. */
export type StreamAnswer = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly reason: string; readonly message: string };

/**
 * Sends `requests` (lookaside.v1 ResolveRequest fields) on one ResolveStream
 * to `target` and returns the answers in order: thousands of Resolves in well
 * under a second, where `buf curl` takes 0.2 s a call.
 */
export async function resolveOnStream(target: string, requests: readonly Record<string, unknown>[]): Promise<StreamAnswer[]> {
  const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['ResolveStream'];
  if (method === undefined) throw new Error('no ResolveStream');
  const client = new Client(target, credentials.createInsecure());
  try {
    const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    const answers: StreamAnswer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (answer: { response: { address: string } | null; reason: string; message: string }) => {
        answers.push(answer.response === null ? { ok: false, reason: answer.reason, message: answer.message } : { ok: true, address: answer.response.address });
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    for (const request of requests) call.write(request);
    call.end();
    await done;
    return answers;
  } finally {
    client.close();
  }
}

/** How many times each value occurs, as a plain object (for deepEqual). */
export function countOf(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
