import { constants as http2, type IncomingHttpHeaders } from 'node:http2';

import { status as Status } from '@grpc/grpc-js';

import { decodeErrorInfo, STATUS_DETAILS_TRAILER, type ErrorInfo } from '../../common/status-details.js';

/** gRPC's 5-byte message prefix: compressed flag, then the length, big-endian. */
export const PREFIX_BYTES = 5;

/** Frames one serialized message for the wire: done once for a request that never changes. */
export function frameMessage(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(PREFIX_BYTES + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, PREFIX_BYTES);
  return frame;
}

/** How a call ended: the server's status, or a failure of the transport. */
export interface CallStatus {
  readonly code: Status;
  readonly details: string;
  /** True when the server sent this status; false for transport failures, timeouts and cancellation. */
  readonly fromServer: boolean;
  /** The google.rpc.ErrorInfo the server sent with it (`grpc-status-details-bin`), if any. */
  readonly errorInfo?: ErrorInfo;
}

export function transportStatus(code: Status, details: string): CallStatus {
  return { code, details, fromServer: false };
}

/** Why response headers are not the start of a gRPC answer (an HTTP status other than 200); undefined when they are. */
export function notGrpcAnswer(headers: IncomingHttpHeaders): CallStatus | undefined {
  // Typed as a string, but node:http2 hands over a number.
  const httpStatus = Number(headers[http2.HTTP2_HEADER_STATUS]);
  if (httpStatus === 200) return undefined;
  return transportStatus(Status.UNAVAILABLE, `HTTP status ${String(httpStatus)} instead of a gRPC answer`);
}

/** The status in a trailers block (or trailers-only headers); undefined when there is none. */
export function statusIn(headers: IncomingHttpHeaders): CallStatus | undefined {
  const code = headers['grpc-status'];
  if (code === undefined) return undefined;
  const status: CallStatus = { code: Number(code) as Status, details: decodeDetails(headers['grpc-message']), fromServer: true };
  const details = headers[STATUS_DETAILS_TRAILER];
  const errorInfo = typeof details === 'string' ? decodeErrorInfo(Buffer.from(details, 'base64')) : undefined;
  return errorInfo === undefined ? status : { ...status, errorInfo };
}

/** grpc-message is percent-encoded; a broken encoding is shown as sent. */
function decodeDetails(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Cuts a stream of DATA chunks into gRPC messages. A message may span chunks,
 * and one chunk may hold many messages.
 */
export class MessageReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Hands every message completed by `chunk` to `onMessage`, prefix removed.
   * Returns why the stream is unusable (too large, compressed), else undefined.
   */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): string | undefined {
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buffer.length >= PREFIX_BYTES) {
      if (buffer[0] !== 0) return 'the server sent a compressed message, which was not asked for';
      const length = buffer.readUInt32BE(1);
      if (length > this.maxMessageBytes) return `the server sent a message of ${length} bytes (limit ${this.maxMessageBytes})`;
      if (buffer.length < PREFIX_BYTES + length) break;
      onMessage(buffer.subarray(PREFIX_BYTES, PREFIX_BYTES + length));
      buffer = buffer.subarray(PREFIX_BYTES + length);
    }
    this.pending = buffer;
    return undefined;
  }

  /** Bytes of a message not yet complete. */
  get partialBytes(): number {
    return this.pending.length;
  }
}
