import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';

import { RequestFraming } from '../../src/common/grpc-request-framing.js';
import { LookasideHarness, until, type StreamAnswer } from '../support/lookaside-server.js';
import { grpcFrame, RawGrpcClient } from '../support/raw-grpc.js';

const V1_RESOLVE = '/lookaside.v1.Lookaside/Resolve';
const SEED_RESOLVE = '/lookaside.Lookaside/Resolve';
const RESOLVE_STREAM = '/lookaside.v1.Lookaside/ResolveStream';
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
/** Not a protobuf message: field 31, wire type 7 (there is no such wire type). */
const UNDECODABLE = Buffer.from([0xff, 0xff, 0xff]);

/** A 5-byte prefix announcing `announced` bytes, followed by `sent` of them. */
function cutShort(announced: number, sent: number): Buffer {
  const frame = Buffer.alloc(5 + sent, 0x0a);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(announced, 1);
  return frame;
}

describe('lookaside server: malformed requests get INVALID_ARGUMENT with a message', () => {
  let harness: LookasideHarness;
  let client: RawGrpcClient;

  beforeEach(async () => {
    harness = await LookasideHarness.start();
    client = new RawGrpcClient(harness.target);
  });

  afterEach(() => {
    client.close();
    harness.stop();
  });

  const request = (service: string): Buffer => grpcFrame(harness.method('Resolve').requestSerialize({ service }));

  for (const path of [V1_RESOLVE, SEED_RESOLVE]) {
    it(`answers an undecodable ${path} request with INVALID_ARGUMENT (not INTERNAL), and counts it`, async () => {
      const answer = await client.call(path, grpcFrame(UNDECODABLE));
      assert.equal(answer.status, Status.INVALID_ARGUMENT, answer.message);
      assert.match(answer.message, /^cannot decode the request: /);
      const [service, method] = path.slice(1).split('/');
      const labels = `grpc_type="unary",grpc_service="${service}",grpc_method="${method}",grpc_code="InvalidArgument"`;
      assert.ok((await harness.metrics()).includes(`grpc_server_handled_total{${labels}} 1`));
    });
  }

  it('answers a unary request cut short (its prefix announces more bytes than arrive before END_STREAM) with INVALID_ARGUMENT', async () => {
    const answer = await client.call(V1_RESOLVE, cutShort(100, 3));
    assert.equal(answer.status, Status.INVALID_ARGUMENT, answer.message);
    assert.equal(answer.message, 'the request ended before one whole message arrived; this method takes exactly one');
  });

  it('answers a unary request cut inside the 5-byte prefix with INVALID_ARGUMENT', async () => {
    const answer = await client.call(SEED_RESOLVE, Buffer.from([0, 0]));
    assert.equal(answer.status, Status.INVALID_ARGUMENT, answer.message);
    assert.equal(answer.message, 'the request ended before one whole message arrived; this method takes exactly one');
  });

  it('answers a unary request with no message, or with two, with INVALID_ARGUMENT (not UNIMPLEMENTED)', async () => {
    const none = await client.call(V1_RESOLVE, Buffer.alloc(0));
    assert.equal(none.status, Status.INVALID_ARGUMENT, none.message);
    assert.equal(none.message, 'the request ended before one whole message arrived; this method takes exactly one');
    const two = await client.call(V1_RESOLVE, Buffer.concat([request('svc-1'), request('svc-2')]));
    assert.equal(two.status, Status.INVALID_ARGUMENT, two.message);
    assert.equal(two.message, 'a second request message arrived; this method takes exactly one');
  });

  it('ends a health Check (grpc-js, through the front) cut short with INVALID_ARGUMENT too', async () => {
    const grpcClient = new RawGrpcClient(harness.target);
    const answer = await grpcClient.call(HEALTH_CHECK, cutShort(10, 1));
    grpcClient.close();
    assert.equal(answer.status, Status.INVALID_ARGUMENT, answer.message);
    assert.match(answer.message, /ended before one whole message arrived/);
  });

  it('answers a ResolveStream cut short in its last request: the whole requests, then INVALID_ARGUMENT for the cut one, and the stream ends OK', async () => {
    const answer = await client.call(RESOLVE_STREAM, Buffer.concat([request('svc-1'), request('svc-2'), cutShort(40, 4)]));
    assert.equal(answer.status, Status.OK, answer.message);
    const decode = harness.method('ResolveStream').responseDeserialize as (bytes: Buffer) => StreamAnswer;
    const answers = answer.messages.map(decode);
    assert.deepEqual(
      answers.map((each) => each.response?.address ?? each.code),
      ['10.0.0.1:80', '10.0.0.2:80', Status.INVALID_ARGUMENT],
    );
    assert.equal(answers[2]?.message, 'the request ended inside a message: its prefix announced 40 bytes, 4 arrived');
  });

  it('still serves a well-formed request on the same connection', async () => {
    await client.call(V1_RESOLVE, cutShort(100, 3));
    const answer = await client.call(V1_RESOLVE, request('svc-4'));
    assert.equal(answer.status, Status.OK, answer.message);
    await until(() => harness.lookaside.openCalls() === 0, 'every call closed');
  });
});

describe('RequestFraming', () => {
  it('follows messages split at any byte, and says where a stream was cut', () => {
    const stream = Buffer.concat([grpcFrame(Buffer.from('hello')), grpcFrame(Buffer.alloc(0)), grpcFrame(Buffer.alloc(300, 1))]);
    for (let split = 0; split <= stream.length; split += 1) {
      const framing = new RequestFraming();
      framing.push(stream.subarray(0, split));
      framing.push(stream.subarray(split));
      assert.equal(framing.cutShort(), undefined, `split at ${split}`);
    }
    const cut = new RequestFraming();
    cut.push(stream.subarray(0, stream.length - 1));
    assert.equal(cut.cutShort(), 'the request ended inside a message: its prefix announced 300 bytes, 299 arrived');
  });
});
