import { Duplex } from 'node:stream';

/**
 * One end of an in-memory connection: what is written to it is read from
 * the other end, as from a socket: in a later tick (one HTTP/2 session is
 * never re-entered from inside the other's write: pushed at once, a bidi
 * stream over the flow-control windows stalled), and what was written in one
 * tick as one chunk (the reader parses the frames in one go). A write's
 * callback waits while the other end's reader has more than it wants, so
 * backpressure crosses the pair. (node:stream's duplexPair arrives in Node 22.)
 */
class DuplexEnd extends Duplex {
  other!: DuplexEnd;
  private batch: Buffer[] = [];
  /** The other end's reader has more than it wants: the next write waits for its _read. */
  private blocked = false;
  private heldWrite: (() => void) | undefined;

  override _read(): void {
    const other = this.other;
    other.blocked = false;
    const callback = other.heldWrite;
    other.heldWrite = undefined;
    callback?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.batch.length === 0) process.nextTick(() => this.flush());
    this.batch.push(chunk);
    if (this.blocked) this.heldWrite = callback;
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush();
    this.other.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.batch = [];
    this.heldWrite = undefined;
    // Like a socket whose peer went away: the other end sees the close too.
    if (!this.other.destroyed) this.other.destroy();
    callback(error);
  }

  private flush(): void {
    if (this.batch.length === 0 || this.destroyed) return;
    const chunk = this.batch.length === 1 ? (this.batch[0] as Buffer) : Buffer.concat(this.batch);
    this.batch = [];
    if (!this.other.push(chunk)) this.blocked = true;
  }
}

/** Two connected in-memory duplex streams. */
export function inMemoryConnection(): { readonly clientEnd: Duplex; readonly serverEnd: Duplex } {
  const clientEnd = new DuplexEnd();
  const serverEnd = new DuplexEnd();
  clientEnd.other = serverEnd;
  serverEnd.other = clientEnd;
  return { clientEnd, serverEnd };
}
