import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';

import { LookasideHarness, until } from '../support/lookaside-server.js';

/** Requests frames in one buffer, as a client that batches its writes sends them (one DATA frame). */
function framed(messages: readonly Buffer[]): Buffer {
  return Buffer.concat(
    messages.map((message) => {
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(message.length, 1);
      return Buffer.concat([prefix, message]);
    }),
  );
}

describe('lookaside server: ResolveStream answers leave together', () => {
  let harness: LookasideHarness;
  let session: ClientHttp2Session | undefined;

  beforeEach(async () => {
    harness = await LookasideHarness.start();
  });

  afterEach(() => {
    session?.destroy();
    harness.stop();
  });

  /** Sends `count` requests in one DATA frame; returns the DATA chunks their answers came in. */
  async function answerChunks(count: number): Promise<Buffer[]> {
    const method = harness.method('ResolveStream');
    session = connect(`http://${harness.target}`);
    const stream = session.request({ ':method': 'POST', ':path': method.path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const requests = Array.from({ length: count }, (_, index) => method.requestSerialize({ service: `svc-${index + 1}` }));
    stream.write(framed(requests));
    const answered = (): number => {
      let messages = 0;
      const all = Buffer.concat(chunks);
      for (let offset = 0; offset + 5 <= all.length; offset += 5 + all.readUInt32BE(offset + 1)) messages += 1;
      return messages;
    };
    await until(() => answered() === count, `${count} answers`);
    stream.close();
    return chunks;
  }

  it('sends the answers to requests that arrived together in one DATA frame, not one frame each', async () => {
    const chunks = await answerChunks(8);
    assert.equal(chunks.length, 1, `answers came in ${chunks.length} DATA frames`);
  });

  it('still answers each request once, in order', async () => {
    const chunks = await answerChunks(5);
    const decode = harness.method('ResolveStream').responseDeserialize as (bytes: Buffer) => { response: { address: string } | null };
    const all = Buffer.concat(chunks);
    const addresses: string[] = [];
    for (let offset = 0; offset < all.length; offset += 5 + all.readUInt32BE(offset + 1)) {
      addresses.push(decode(all.subarray(offset + 5, offset + 5 + all.readUInt32BE(offset + 1))).response?.address ?? 'none');
    }
    assert.deepEqual(addresses, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80']);
  });
});
