/**
 * A request that could not be decoded, or that the client cut short: a method
 * that takes it answers INVALID_ARGUMENT with `reason` (a stream goes on).
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** The gRPC message prefix: a compressed flag (1 byte), then the length (4 bytes, big-endian). */
export const PREFIX_BYTES = 5;

/**
 * Why a request stream cannot end where it did: inside a message's prefix
 * (`prefixBytesSeen` of its bytes arrived) or inside a message (`arrived` of
 * the `announced` bytes); undefined when it ended between messages.
 */
export function cutShortReason(prefixBytesSeen: number, announced: number, arrived: number): string | undefined {
  if (prefixBytesSeen > 0) return `the request ended inside a message prefix (${prefixBytesSeen} of its ${PREFIX_BYTES} bytes arrived)`;
  if (arrived < announced) return `the request ended inside a message: its prefix announced ${announced} bytes, ${arrived} arrived`;
  return undefined;
}

/**
 * Follows the gRPC length-prefixed framing of one request stream, byte count
 * only, so that when the client half-closes the server can tell a clean end
 * from one inside a message: grpc-js drops such a tail without a word.
 */
export class RequestFraming {
  private prefixBytesSeen = 0;
  private announcedBytes = 0;
  private remainingBytes = 0;
  /** Whole messages seen so far. */
  completed = 0;

  /** Takes the next DATA chunk of the stream, as it arrived. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remainingBytes > 0) {
        const taken = Math.min(this.remainingBytes, chunk.length - offset);
        this.remainingBytes -= taken;
        offset += taken;
        if (this.remainingBytes === 0) this.completed += 1;
        continue;
      }
      const byte = chunk[offset] ?? 0;
      offset += 1;
      if (this.prefixBytesSeen === 0) this.announcedBytes = 0;
      else this.announcedBytes = this.announcedBytes * 256 + byte;
      this.prefixBytesSeen += 1;
      if (this.prefixBytesSeen === PREFIX_BYTES) {
        this.prefixBytesSeen = 0;
        this.remainingBytes = this.announcedBytes;
        if (this.remainingBytes === 0) this.completed += 1;
      }
    }
  }

  /** Why the stream cannot end here, or undefined when it ends between messages. */
  cutShort(): string | undefined {
    return cutShortReason(this.prefixBytesSeen, this.announcedBytes, this.announcedBytes - this.remainingBytes);
  }
}
