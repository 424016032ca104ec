import type { CallResult__Output } from '../generated/lookaside/v1/CallResult.js';
import type { ResolveRequest__Output } from '../generated/lookaside/v1/ResolveRequest.js';

/**
 * A hand-written decoder of lookaside.v1.ResolveRequest for the messages
 * clients actually send (known fields, ASCII names, small numbers), giving
 * the object proto-loader gives (defaults filled in, the policy by name).
 * Anything else (an unknown field, a non-ASCII byte in a string, a long
 * varint, a cut message) goes to proto-loader's decoder, so what it answers,
 * or the error it throws, stays proto-loader's. proto-loader's decode and
 * toObject took ~8% of a ResolveStream answer's CPU in the profile.
 * test/unit/resolve-request-decoder.test.ts compares both on random messages.
 */
export function resolveRequestDecoder(fallback: (bytes: Buffer) => ResolveRequest__Output): (bytes: Buffer) => ResolveRequest__Output {
  return (bytes) => decodeResolveRequest(bytes) ?? fallback(bytes);
}

const POLICIES = ['POLICY_UNSPECIFIED', 'ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'WEIGHTED_ROUND_ROBIN'] as const;

/** Where the reader is; `at` is -1 once the message is not one this decoder takes. */
interface Cursor {
  at: number;
}

/** The request, or undefined when proto-loader should decode it. */
export function decodeResolveRequest(bytes: Buffer): ResolveRequest__Output | undefined {
  const request: ResolveRequest__Output = {
    service: '',
    namespace: '',
    policy: 'POLICY_UNSPECIFIED',
    port_name: '',
    finished_calls: [],
    reports_calls: false,
    report_only: false,
    method: '',
    headers: {},
  };
  const cursor: Cursor = { at: 0 };
  const end = bytes.length;
  while (cursor.at < end) {
    const tag = bytes[cursor.at++] ?? 0;
    if (tag === 0x0a) request.service = ascii(bytes, cursor, end);
    else if (tag === 0x12) request.namespace = ascii(bytes, cursor, end);
    else if (tag === 0x18) request.policy = POLICIES[smallVarint(bytes, cursor, POLICIES.length - 1)] ?? 'POLICY_UNSPECIFIED';
    else if (tag === 0x22) request.port_name = ascii(bytes, cursor, end);
    else if (tag === 0x2a) {
      const call = callResult(bytes, cursor, end);
      if (call !== undefined) request.finished_calls.push(call);
    } else if (tag === 0x30) request.reports_calls = smallVarint(bytes, cursor, 1) === 1;
    else if (tag === 0x38) request.report_only = smallVarint(bytes, cursor, 1) === 1;
    else if (tag === 0x42) request.method = ascii(bytes, cursor, end);
    else if (tag === 0x4a) header(bytes, cursor, end, request.headers);
    else return undefined;
    if (cursor.at < 0) return undefined;
  }
  return request;
}

function callResult(bytes: Buffer, cursor: Cursor, end: number): CallResult__Output | undefined {
  const length = varint32(bytes, cursor);
  const stop = cursor.at + length;
  if (cursor.at < 0 || stop > end) return fail(cursor);
  const call: CallResult__Output = { address: '', code: 0, latency_micros: 0, not_called: false };
  while (cursor.at < stop && cursor.at >= 0) {
    const tag = bytes[cursor.at++] ?? 0;
    if (tag === 0x0a) call.address = ascii(bytes, cursor, stop);
    else if (tag === 0x10) call.code = varint32(bytes, cursor);
    else if (tag === 0x18) call.latency_micros = varint32(bytes, cursor);
    else if (tag === 0x20) call.not_called = smallVarint(bytes, cursor, 1) === 1;
    else return fail(cursor);
  }
  return cursor.at === stop ? call : fail(cursor);
}

function header(bytes: Buffer, cursor: Cursor, end: number, headers: Record<string, string>): void {
  const length = varint32(bytes, cursor);
  const stop = cursor.at + length;
  if (cursor.at < 0 || stop > end) return void fail(cursor);
  let key = '';
  let value = '';
  while (cursor.at < stop && cursor.at >= 0) {
    const tag = bytes[cursor.at++] ?? 0;
    if (tag === 0x0a) key = ascii(bytes, cursor, stop);
    else if (tag === 0x12) value = ascii(bytes, cursor, stop);
    else return void fail(cursor);
  }
  // An own "__proto__" key is one proto-loader's object cannot hold either: let it decide.
  if (cursor.at !== stop || key === '__proto__') return void fail(cursor);
  headers[key] = value;
}

/** A length-delimited string of ASCII bytes; a non-ASCII byte sends the message to proto-loader. */
function ascii(bytes: Buffer, cursor: Cursor, end: number): string {
  const length = varint32(bytes, cursor);
  const start = cursor.at;
  if (start < 0 || start + length > end) return failText(cursor);
  for (let i = start; i < start + length; i += 1) if ((bytes[i] ?? 0) >= 0x80) return failText(cursor);
  cursor.at = start + length;
  return length === 0 ? '' : bytes.toString('latin1', start, start + length);
}

/** A one-byte varint no larger than `max`; anything else sends the message to proto-loader. */
function smallVarint(bytes: Buffer, cursor: Cursor, max: number): number {
  const value = bytes[cursor.at++] ?? 0x80;
  if (value > max) return failNumber(cursor);
  return value;
}

/** A varint of at most 4 bytes (below 2^28), as uint32. */
function varint32(bytes: Buffer, cursor: Cursor): number {
  let value = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (cursor.at < 0 || cursor.at >= bytes.length) return failNumber(cursor);
    const byte = bytes[cursor.at++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
  }
  return failNumber(cursor);
}

function fail(cursor: Cursor): undefined {
  cursor.at = -1;
  return undefined;
}

function failText(cursor: Cursor): string {
  cursor.at = -1;
  return '';
}

function failNumber(cursor: Cursor): number {
  cursor.at = -1;
  return 0;
}
