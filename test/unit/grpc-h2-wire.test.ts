import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';

import { status as Status } from '@grpc/grpc-js';

import { checkRequestHeaders, encodeGrpcMessage, parseGrpcTimeoutMs } from '../../src/common/grpc-h2-headers.js';
import { MessageReader, type MessageListener } from '../../src/common/grpc-message-reader.js';
import { grpcFrame } from '../support/raw-grpc.js';

/** What a MessageReader handed on. */
class Collected implements MessageListener {
  readonly messages: string[] = [];
  unreadable: { code: Status; message: string } | undefined;
  onMessage(bytes: Buffer): void {
    this.messages.push(bytes.toString());
  }
  onUnreadable(code: Status, message: string): void {
    this.unreadable = { code, message };
  }
}

function compressedFrame(payload: Buffer): Buffer {
  const frame = grpcFrame(payload);
  frame[0] = 1;
  return frame;
}

describe('gRPC over HTTP/2, the lean handlers’ wire pieces', () => {
  describe('parseGrpcTimeoutMs', () => {
    it('reads every unit of grpc-timeout', () => {
      assert.equal(parseGrpcTimeoutMs('2H'), 7_200_000);
      assert.equal(parseGrpcTimeoutMs('3M'), 180_000);
      assert.equal(parseGrpcTimeoutMs('4S'), 4_000);
      assert.equal(parseGrpcTimeoutMs('250m'), 250);
      assert.equal(parseGrpcTimeoutMs('1500u'), 1.5);
      assert.equal(parseGrpcTimeoutMs('99999999n'), 99.999999);
    });

    it('has no deadline without the header, and refuses what is not 1-8 digits and a unit', () => {
      assert.equal(parseGrpcTimeoutMs(undefined), Number.POSITIVE_INFINITY);
      for (const bad of ['', '10', 'S', '123456789S', '1.5S', '-1S', '10s', '10 S']) assert.equal(parseGrpcTimeoutMs(bad), undefined, bad);
    });
  });

  describe('checkRequestHeaders', () => {
    const grpc = { ':method': 'POST', 'content-type': 'application/grpc' };

    it('takes a POST of application/grpc, application/grpc+proto (with parameters) in identity, gzip or deflate', () => {
      for (const type of ['application/grpc', 'application/grpc+proto', 'application/grpc; charset=utf-8']) {
        assert.equal(checkRequestHeaders({ ...grpc, 'content-type': type }), undefined, type);
      }
      for (const encoding of ['identity', 'gzip', 'deflate']) assert.equal(checkRequestHeaders({ ...grpc, 'grpc-encoding': encoding }), undefined);
    });

    it('answers another method 405, another content type 415, another encoding UNIMPLEMENTED with the accepted ones', () => {
      assert.equal(checkRequestHeaders({ ...grpc, ':method': 'GET' })?.httpStatus, 405);
      assert.equal(checkRequestHeaders({ ...grpc, 'content-type': 'application/json' })?.httpStatus, 415);
      assert.equal(checkRequestHeaders({ ...grpc, 'content-type': 'application/grpc+json' })?.httpStatus, 415);
      assert.equal(checkRequestHeaders({ ':method': 'POST' })?.httpStatus, 415);
      const snappy = checkRequestHeaders({ ...grpc, 'grpc-encoding': 'snappy' });
      assert.equal(snappy?.code, Status.UNIMPLEMENTED);
      assert.deepEqual(snappy?.headers, { 'grpc-accept-encoding': 'identity,deflate,gzip' });
    });
  });

  it('percent-encodes grpc-message outside printable ASCII, and %', () => {
    assert.equal(encodeGrpcMessage('no Service x; retry'), 'no Service x; retry');
    assert.equal(encodeGrpcMessage('100% über\n'), '100%25 %C3%BCber%0A');
    assert.equal(decodeURIComponent(encodeGrpcMessage('100% über\n')), '100% über\n');
  });

  describe('MessageReader', () => {
    const stream = Buffer.concat([grpcFrame(Buffer.from('hello')), grpcFrame(Buffer.alloc(0)), grpcFrame(Buffer.alloc(300, 0x61)), grpcFrame(Buffer.from('end'))]);
    const expected = ['hello', '', 'a'.repeat(300), 'end'];

    it('hands on messages packed in one chunk and split at any byte, and says nothing is cut', () => {
      for (let split = 0; split <= stream.length; split += 1) {
        const reader = new MessageReader(16_384, undefined);
        const collected = new Collected();
        reader.push(stream.subarray(0, split), collected);
        reader.push(stream.subarray(split), collected);
        assert.deepEqual(collected.messages, expected, `split at ${split}`);
        assert.equal(reader.cutShort(), undefined);
      }
    });

    it('takes a stream one byte at a time', () => {
      const reader = new MessageReader(16_384, undefined);
      const collected = new Collected();
      for (let i = 0; i < stream.length; i += 1) reader.push(stream.subarray(i, i + 1), collected);
      assert.deepEqual(collected.messages, expected);
    });

    it('says where a stream was cut: inside a prefix, inside a message', () => {
      const inPrefix = new MessageReader(16_384, undefined);
      inPrefix.push(Buffer.from([0, 0]), new Collected());
      assert.equal(inPrefix.cutShort(), 'the request ended inside a message prefix (2 of its 5 bytes arrived)');
      const inMessage = new MessageReader(16_384, undefined);
      inMessage.push(stream.subarray(0, stream.length - 1), new Collected());
      assert.equal(inMessage.cutShort(), 'the request ended inside a message: its prefix announced 3 bytes, 2 arrived');
    });

    it('decompresses gzip and deflate messages of the call’s grpc-encoding', () => {
      for (const [encoding, compress] of [['gzip', gzipSync], ['deflate', deflateSync]] as const) {
        const reader = new MessageReader(16_384, encoding);
        const collected = new Collected();
        reader.push(Buffer.concat([compressedFrame(compress(Buffer.from('packed'))), grpcFrame(Buffer.from('plain'))]), collected);
        assert.deepEqual(collected.messages, ['packed', 'plain'], encoding);
      }
    });

    it('stops with RESOURCE_EXHAUSTED at a message over the limit, announced or once decompressed', () => {
      const announced = new Collected();
      new MessageReader(100, undefined).push(grpcFrame(Buffer.alloc(101)), announced);
      assert.deepEqual(announced.unreadable, { code: Status.RESOURCE_EXHAUSTED, message: 'Received message larger than max (101 vs. 100)' });
      const inflated = new Collected();
      new MessageReader(100, 'gzip').push(compressedFrame(gzipSync(Buffer.alloc(1_000))), inflated);
      assert.deepEqual(inflated.unreadable, { code: Status.RESOURCE_EXHAUSTED, message: 'Received message larger than max (over 100 bytes decompressed)' });
      assert.deepEqual(inflated.messages, []);
    });

    it('stops with INTERNAL at a compressed message without an encoding, bad compressed bytes, or a bad flag', () => {
      for (const [encoding, frame, pattern] of [
        [undefined, compressedFrame(Buffer.from('x')), /flagged compressed but the request's grpc-encoding is not set/],
        ['gzip', compressedFrame(Buffer.from('not gzip')), /^cannot decompress a gzip message: /],
        [undefined, Buffer.from([2, 0, 0, 0, 0]), /compressed flag 2; expected 0 or 1/],
      ] as const) {
        const collected = new Collected();
        new MessageReader(16_384, encoding).push(frame, collected);
        assert.equal(collected.unreadable?.code, Status.INTERNAL);
        assert.match(collected.unreadable?.message ?? '', pattern);
      }
    });
  });
});
