import assert from 'node:assert/strict';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { decodeResolveRequest, resolveRequestDecoder } from '../../src/lookaside/resolve-request-decoder.js';
import { seededRandom } from '../support/endpoints.js';

const resolve = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['Resolve'] ?? assert.fail('no Resolve');
const encode = resolve.requestSerialize as (request: object) => Buffer;
const protoLoader = resolve.requestDeserialize as (bytes: Buffer) => unknown;
const decode = resolveRequestDecoder(protoLoader as Parameters<typeof resolveRequestDecoder>[0]);

/** A random request as a client could send it: every field sometimes, names sometimes non-ASCII, numbers up to 2^32 - 1. */
function randomRequest(random: () => number): object {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const text = (): string => pick(['', 'greet', 'svc-1', 'default', 'a'.repeat(200), 'zöne', '10.0.0.1:50051', 'x'.repeat(20_000).slice(0, Math.floor(random() * 300))]);
  const number = (): number => pick([0, 1, 14, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1]);
  const request: Record<string, unknown> = {};
  if (random() < 0.9) request['service'] = text();
  if (random() < 0.5) request['namespace'] = text();
  if (random() < 0.5) request['policy'] = pick(['POLICY_UNSPECIFIED', 'ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'WEIGHTED_ROUND_ROBIN', 7, 200]);
  if (random() < 0.3) request['port_name'] = text();
  if (random() < 0.4) {
    request['finished_calls'] = Array.from({ length: Math.floor(random() * 4) }, () => ({
      address: text(),
      code: number(),
      latency_micros: number(),
      not_called: random() < 0.5,
    }));
  }
  if (random() < 0.4) request['reports_calls'] = random() < 0.5;
  if (random() < 0.2) request['report_only'] = random() < 0.5;
  if (random() < 0.3) request['method'] = text();
  if (random() < 0.3) request['headers'] = Object.fromEntries(Array.from({ length: Math.floor(random() * 3) }, () => [text(), text()]));
  return request;
}

describe('ResolveRequest decoder', () => {
  it('gives the object proto-loader gives for 5,000 random requests, most of them without proto-loader', () => {
    const random = seededRandom(14);
    let fast = 0;
    for (let i = 0; i < 5_000; i += 1) {
      const bytes = encode(randomRequest(random));
      if (decodeResolveRequest(bytes) !== undefined) fast += 1;
      assert.deepEqual(decode(bytes), protoLoader(bytes), `request ${i}: ${bytes.toString('hex')}`);
    }
    assert.ok(fast > 2_000, `only ${fast} of 5000 decoded without proto-loader`);
  });

  it('takes the common request itself', () => {
    const bytes = encode({ service: 'greet', namespace: 'default', policy: 'ROUND_ROBIN', reports_calls: true, finished_calls: [{ address: '10.0.0.1:80', code: 0, latency_micros: 900 }] });
    assert.deepEqual(decodeResolveRequest(bytes), protoLoader(bytes));
  });

  it('leaves cut, unknown or undecodable bytes to proto-loader: the same answer or the same error', () => {
    const whole = encode({ service: 'greet', namespace: 'default', finished_calls: [{ address: 'a', code: 3 }], headers: { k: 'v' } });
    const inputs = [
      Buffer.from([0xff, 0xff, 0xff]),
      ...Array.from({ length: whole.length }, (_, cut) => whole.subarray(0, cut)),
      Buffer.concat([whole, Buffer.from([0x58, 0x01])]), // field 11, not in the proto
      Buffer.from([0x0a, 0x02, 0xc3, 0xbc]), // service "ü"
      Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0x0f]), // policy -1 as a long varint
      Buffer.from([0x30, 0x02]), // reports_calls = 2
    ];
    for (const bytes of inputs) {
      let expected: unknown;
      try {
        expected = protoLoader(bytes);
      } catch (error) {
        assert.throws(() => decode(bytes), { message: (error as Error).message }, bytes.toString('hex'));
        continue;
      }
      assert.deepEqual(decode(bytes), expected, bytes.toString('hex'));
    }
  });
});
