import { gunzipSync, inflateSync } from 'node:zlib';

import { status as Status } from '@grpc/grpc-js';

import { cutShortReason, PREFIX_BYTES } from './grpc-request-framing.js';

/** The message encodings a request may use (`grpc-encoding`), as advertised in `grpc-accept-encoding`. */
export const ACCEPTED_ENCODINGS = 'identity,deflate,gzip';
const DECOMPRESS: Readonly<Record<string, ((bytes: Buffer, options: { maxOutputLength: number }) => Buffer) | undefined>> = {
  gzip: gunzipSync,
  deflate: inflateSync,
};

/** Whether a request's `grpc-encoding` header (absent: identity) names an encoding the reader can take. */
export function acceptsEncoding(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === 'identity' || DECOMPRESS[encoding] !== undefined;
}

/** Where a MessageReader hands what it read. */
export interface MessageListener {
  /** One whole request message, decompressed; the bytes may be a view of the chunk they came in. */
  onMessage(bytes: Buffer): void;
  /** The stream cannot be read on (too big, bad compression): end the call with this status. */
  onUnreadable(code: Status, message: string): void;
}

/**
 * Splits a request stream's DATA chunks into gRPC messages (length-prefixed,
 * split across chunks or several in one), decompressing those flagged
 * compressed with the call's `grpc-encoding`, and refusing any over
 * `maxBytes`. A message whole inside one chunk is handed on without a copy.
 */
export class MessageReader {
  /** A prefix split across chunks, gathered (allocated only then). */
  private prefix: Buffer | undefined;
  private prefixBytesSeen = 0;
  /** The message being gathered across chunks, and how much of it arrived. */
  private partial: Buffer | undefined;
  private partialBytes = 0;
  private compressed = false;
  private stopped = false;

  constructor(
    private readonly maxBytes: number,
    private readonly encoding: string | undefined,
  ) {}

  push(chunk: Buffer, listener: MessageListener): void {
    let offset = 0;
    while (offset < chunk.length && !this.stopped) {
      const partial = this.partial;
      if (partial !== undefined) {
        const taken = chunk.copy(partial, this.partialBytes, offset);
        this.partialBytes += taken;
        offset += taken;
        if (this.partialBytes < partial.length) return;
        this.partial = undefined;
        this.deliver(partial, listener);
        continue;
      }
      if (this.prefixBytesSeen === 0 && chunk.length - offset >= PREFIX_BYTES) {
        // The common case: a whole prefix, read in place.
        const length = chunk.readUInt32BE(offset + 1);
        if (!this.startMessage(chunk[offset] ?? 0, length, listener)) return;
        offset += PREFIX_BYTES;
        if (chunk.length - offset >= length) {
          this.deliver(chunk.subarray(offset, offset + length), listener);
          offset += length;
        } else {
          this.partial = Buffer.allocUnsafe(length);
          this.partialBytes = 0;
        }
        continue;
      }
      const prefix = (this.prefix ??= Buffer.alloc(PREFIX_BYTES));
      const taken = chunk.copy(prefix, this.prefixBytesSeen, offset, offset + PREFIX_BYTES - this.prefixBytesSeen);
      this.prefixBytesSeen += taken;
      offset += taken;
      if (this.prefixBytesSeen < PREFIX_BYTES) return;
      this.prefixBytesSeen = 0;
      const length = prefix.readUInt32BE(1);
      if (!this.startMessage(prefix[0] ?? 0, length, listener)) return;
      if (length === 0) this.deliver(Buffer.alloc(0), listener);
      else {
        this.partial = Buffer.allocUnsafe(length);
        this.partialBytes = 0;
      }
    }
  }

  /** Why the stream cannot end here (inside a prefix or a message), or undefined when it ends between messages. */
  cutShort(): string | undefined {
    if (this.stopped) return undefined;
    return cutShortReason(this.prefixBytesSeen, this.partial?.length ?? 0, this.partialBytes);
  }

  private startMessage(flag: number, length: number, listener: MessageListener): boolean {
    if (flag > 1) return this.stop(listener, Status.INTERNAL, `a message prefix has compressed flag ${flag}; expected 0 or 1`);
    if (length > this.maxBytes) {
      return this.stop(listener, Status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.maxBytes})`);
    }
    this.compressed = flag === 1;
    return true;
  }

  private deliver(bytes: Buffer, listener: MessageListener): void {
    if (!this.compressed) {
      listener.onMessage(bytes);
      return;
    }
    const decompress = this.encoding === undefined ? undefined : DECOMPRESS[this.encoding];
    if (decompress === undefined) {
      this.stop(listener, Status.INTERNAL, `a message is flagged compressed but the request's grpc-encoding is ${this.encoding ?? 'not set'}`);
      return;
    }
    let message: Buffer;
    try {
      message = decompress(bytes, { maxOutputLength: this.maxBytes });
    } catch (error) {
      const tooBig = error instanceof RangeError || (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
      if (tooBig) this.stop(listener, Status.RESOURCE_EXHAUSTED, `Received message larger than max (over ${this.maxBytes} bytes decompressed)`);
      else this.stop(listener, Status.INTERNAL, `cannot decompress a ${this.encoding ?? ''} message: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    listener.onMessage(message);
  }

  private stop(listener: MessageListener, code: Status, message: string): false {
    this.stopped = true;
    this.partial = undefined;
    listener.onUnreadable(code, message);
    return false;
  }
}
