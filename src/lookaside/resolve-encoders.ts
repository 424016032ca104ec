import type { Response__Output } from '../generated/lookaside/Response.js';
import type { ResolveResponse__Output } from '../generated/lookaside/v1/ResolveResponse.js';
import type { StreamAnswer } from './resolve-stream.js';

/**
 * Hand-written protobuf encoders of the Resolve answers: proto-loader's
 * (protobufjs fromObject, then encode) took ~10% of a ResolveStream
 * answer's CPU in the profile; these take a fraction of that. They write
 * proto3's canonical form (fields at their default left out), which every
 * decoder reads as the same message: test/unit/resolve-encoders.test.ts
 * decodes both with proto-loader and compares.
 */

/** Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited). */
const ADDRESS = 0x0a;
const IP = 0x12;
const PORT = 0x18;
const POD_NAME = 0x22;
const ZONE = 0x2a;
const NODE_NAME = 0x32;
const READY_ENDPOINTS = 0x38;
const STREAM_RESPONSE = 0x0a;
const STREAM_CODE = 0x10;
const STREAM_MESSAGE = 0x1a;
const STREAM_REASON = 0x22;

function varintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Bytes of a string field with its tag and length; 0 for the empty string (left out). */
function stringField(bytes: number): number {
  return bytes === 0 ? 0 : 1 + varintBytes(bytes) + bytes;
}

function varintField(value: number): number {
  return value === 0 ? 0 : 1 + varintBytes(value);
}

function writeVarint(out: Buffer, offset: number, value: number): number {
  let rest = value >>> 0;
  while (rest >= 0x80) {
    out[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[offset++] = rest;
  return offset;
}

/**
 * UTF-8 bytes of a string. Names and addresses are short ASCII: counted and
 * copied in a loop here, which beats Buffer.byteLength and buf.write (a call
 * into C++ each) at these lengths.
 */
function utf8Bytes(text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i += 1) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text);
  return length;
}

function writeString(out: Buffer, offset: number, tag: number, text: string, bytes: number): number {
  if (bytes === 0) return offset;
  out[offset] = tag;
  offset = writeVarint(out, offset + 1, bytes);
  if (bytes !== text.length) return offset + out.write(text, offset, bytes, 'utf8');
  for (let i = 0; i < bytes; i += 1) out[offset + i] = text.charCodeAt(i);
  return offset + bytes;
}

function writeUint(out: Buffer, offset: number, tag: number, value: number): number {
  if (value === 0) return offset;
  out[offset] = tag;
  return writeVarint(out, offset + 1, value);
}

/** The byte lengths of a ResolveResponse's strings, measured once. */
interface Measured {
  readonly response: ResolveResponse__Output;
  readonly address: number;
  readonly ip: number;
  readonly podName: number;
  readonly zone: number;
  readonly nodeName: number;
  readonly size: number;
}

function measure(response: ResolveResponse__Output): Measured {
  const address = utf8Bytes(response.address);
  const ip = utf8Bytes(response.ip);
  const podName = utf8Bytes(response.pod_name);
  const zone = utf8Bytes(response.zone);
  const nodeName = utf8Bytes(response.node_name);
  const size =
    stringField(address) +
    stringField(ip) +
    varintField(response.port) +
    stringField(podName) +
    stringField(zone) +
    stringField(nodeName) +
    varintField(response.ready_endpoints);
  return { response, address, ip, podName, zone, nodeName, size };
}

function writeResponse(out: Buffer, offset: number, measured: Measured): number {
  const response = measured.response;
  offset = writeString(out, offset, ADDRESS, response.address, measured.address);
  offset = writeString(out, offset, IP, response.ip, measured.ip);
  offset = writeUint(out, offset, PORT, response.port);
  offset = writeString(out, offset, POD_NAME, response.pod_name, measured.podName);
  offset = writeString(out, offset, ZONE, response.zone, measured.zone);
  offset = writeString(out, offset, NODE_NAME, response.node_name, measured.nodeName);
  return writeUint(out, offset, READY_ENDPOINTS, response.ready_endpoints);
}

/** lookaside.v1.ResolveResponse. */
export function encodeResolveResponse(response: ResolveResponse__Output): Buffer {
  const measured = measure(response);
  const out = Buffer.allocUnsafe(measured.size);
  writeResponse(out, 0, measured);
  return out;
}

/** lookaside.v1.ResolveStreamResponse. */
export function encodeStreamAnswer(answer: StreamAnswer<ResolveResponse__Output>): Buffer {
  const measured = answer.response === null ? undefined : measure(answer.response);
  const message = utf8Bytes(answer.message);
  const reason = utf8Bytes(answer.reason);
  const size =
    (measured === undefined ? 0 : 1 + varintBytes(measured.size) + measured.size) + varintField(answer.code) + stringField(message) + stringField(reason);
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  if (measured !== undefined) {
    out[0] = STREAM_RESPONSE;
    offset = writeResponse(out, writeVarint(out, 1, measured.size), measured);
  }
  offset = writeUint(out, offset, STREAM_CODE, answer.code);
  offset = writeString(out, offset, STREAM_MESSAGE, answer.message, message);
  writeString(out, offset, STREAM_REASON, answer.reason, reason);
  return out;
}

/** lookaside.Response (the seed API). */
export function encodeSeedResponse(response: Response__Output): Buffer {
  const address = utf8Bytes(response.address);
  const out = Buffer.allocUnsafe(stringField(address));
  writeString(out, 0, ADDRESS, response.address, address);
  return out;
}
