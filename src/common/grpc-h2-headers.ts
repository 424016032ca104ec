import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { ACCEPTED_ENCODINGS, acceptsEncoding } from './grpc-message-reader.js';

/**
 * The header side of gRPC over HTTP/2 for the lean handlers
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): what a
 * request must carry, its deadline, and the headers and trailers of an answer.
 */

const MS_PER_UNIT: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };
const TIMEOUT_PATTERN = /^(\d{1,8})([HMSmun])$/;

/**
 * `grpc-timeout` in milliseconds: Infinity when absent, undefined when it is
 * not 1–8 digits and a unit (H, M, S, m, u, n).
 */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const match = typeof value === 'string' ? TIMEOUT_PATTERN.exec(value) : null;
  if (match === null) return undefined;
  return Number(match[1]) * (MS_PER_UNIT[match[2] ?? ''] ?? 0);
}

/** Why a request cannot be a gRPC call here: the HTTP status and the gRPC status to answer with. */
export interface RequestRefusal {
  readonly httpStatus: number;
  readonly code: Status;
  readonly message: string;
  readonly headers?: OutgoingHttpHeaders;
}

/** A POST with a protobuf gRPC content type and an encoding the server reads; else why not. */
export function checkRequestHeaders(headers: IncomingHttpHeaders): RequestRefusal | undefined {
  if (headers[':method'] !== 'POST') {
    return { httpStatus: 405, code: Status.INTERNAL, message: `gRPC takes POST, not ${String(headers[':method'])}`, headers: { allow: 'POST' } };
  }
  const type = headers['content-type'];
  if (type !== 'application/grpc' && type !== 'application/grpc+proto' && !isGrpcProtoType(type)) {
    return { httpStatus: 415, code: Status.INTERNAL, message: `content-type ${String(type)} is not application/grpc or application/grpc+proto` };
  }
  const encoding = headers['grpc-encoding'];
  if (typeof encoding === 'string' ? !acceptsEncoding(encoding) : encoding !== undefined) {
    return {
      httpStatus: 200,
      code: Status.UNIMPLEMENTED,
      message: `grpc-encoding ${String(encoding)} is not supported; use one of ${ACCEPTED_ENCODINGS}`,
      headers: { 'grpc-accept-encoding': ACCEPTED_ENCODINGS },
    };
  }
  return undefined;
}

function isGrpcProtoType(type: string | undefined): boolean {
  if (type === undefined) return false;
  const base = type.split(';', 1)[0]?.trim().toLowerCase();
  return base === 'application/grpc' || base === 'application/grpc+proto';
}

/** The response headers before the first answer message. */
export const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [constants.HTTP2_HEADER_STATUS]: 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': ACCEPTED_ENCODINGS,
});

export const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });

/** `grpc-message` as the spec asks: bytes outside printable ASCII, and `%`, percent-encoded (of the UTF-8). */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i += 1) {
    const unit = message.charCodeAt(i);
    plain = unit >= 0x20 && unit <= 0x7e && unit !== 0x25;
  }
  if (plain) return message;
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/**
 * The trailers of a status (or, with `trailersOnly`, the whole response to a
 * call answered with no message): `grpc-status`, `grpc-message`, and
 * `grpc-status-details-bin` when given.
 */
export function statusTrailers(code: Status, message: string, details: Buffer | undefined, trailersOnly: boolean): OutgoingHttpHeaders {
  const trailers: OutgoingHttpHeaders = trailersOnly ? { ...RESPONSE_HEADERS } : {};
  trailers['grpc-status'] = String(code);
  if (message !== '') trailers['grpc-message'] = encodeGrpcMessage(message);
  if (details !== undefined) trailers['grpc-status-details-bin'] = details.toString('base64');
  return trailers;
}
