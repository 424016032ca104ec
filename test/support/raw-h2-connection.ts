/**
 * A hostile HTTP/2 client (bench/stream-flood.ts, the limit tests), on raw frames:
 * node:http2's client obeys the server's SETTINGS_MAX_CONCURRENT_STREAMS
 * (it queues requests on its side), and a flood must not. It sends the
 * preface, then gRPC request HEADERS (and optionally a DATA frame) on as many
 * streams as asked, and answers the server's SETTINGS and PINGs so the
 * connection looks alive. It decodes nothing but frame headers: enough to
 * count the streams the server ended, refused or reset, and to read GOAWAY.
 */
import { connect, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const TYPE = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** HTTP/2 error code REFUSED_STREAM: the server did not process the stream. */
const REFUSED_STREAM = 0x7;
/** HTTP/2 error code CANCEL: the client no longer wants the stream. */
const CANCEL = 0x8;

export interface RawConnectionCounts {
  /** Streams this client opened (HEADERS sent). */
  opened: number;
  /** Streams the server ended with HEADERS carrying END_STREAM (a gRPC status). */
  endedByServer: number;
  /** Streams the server reset with REFUSED_STREAM (over SETTINGS_MAX_CONCURRENT_STREAMS). */
  refused: number;
  /** Streams the server reset with another error code. */
  reset: number;
  /** GOAWAY from the server: its error code and debug text. */
  goaway: { readonly code: number; readonly debug: string } | undefined;
  /** The TCP connection is gone (closed by either side, or refused). */
  closed: boolean;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK string literal without Huffman coding (every string here is under 127 bytes). */
function literal(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length >= 127) throw new Error(`header value too long for this encoder: ${text}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/**
 * The request header block of a gRPC call to `path`, in HPACK without the
 * dynamic table: static-table indices for :method POST (3) and :scheme http (6),
 * "literal without indexing" for the rest (name indices from RFC 7541's static table).
 */
export function grpcRequestHeaderBlock(path: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]),
    Buffer.from([0x04]), // :path
    literal(path),
    Buffer.from([0x01]), // :authority
    literal('localhost'),
    Buffer.from([0x0f, 0x10]), // content-type (static index 31)
    literal('application/grpc'),
    Buffer.from([0x00]), // te (not in the static table)
    literal('te'),
    literal('trailers'),
  ]);
}

/** One hostile connection: opens streams without limit and keeps them open. */
export class RawH2Connection {
  readonly counts: RawConnectionCounts = { opened: 0, endedByServer: 0, refused: 0, reset: 0, goaway: undefined, closed: false };
  /** Resolves when the TCP connection is gone. */
  readonly closed: Promise<void>;
  private nextStreamId = 1;
  private received: Buffer = Buffer.alloc(0);

  private constructor(
    private readonly socket: Socket,
    private readonly answerPings: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.counts.closed = true;
        resolve();
      }),
    );
  }

  /**
   * Connects and sends the preface with empty SETTINGS; resolves once TCP is
   * up (or the connection failed). Without `answerPings` it plays a client
   * that went away without closing its connection.
   */
  static open(port: number, host = '127.0.0.1', answerPings = true): Promise<RawH2Connection> {
    return new Promise((resolve) => {
      const socket = connect({ port, host });
      const connection = new RawH2Connection(socket, answerPings);
      socket.once('connect', () => {
        socket.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0)]));
        resolve(connection);
      });
      socket.once('error', () => resolve(connection));
    });
  }

  /**
   * Opens `count` streams on `headerBlock`; each gets `body` as one DATA frame
   * when given (END_STREAM when `endStream`). Waits for the socket to drain;
   * returns the stream ids.
   */
  async openStreams(headerBlock: Buffer, count: number, body?: Buffer, endStream = false): Promise<number[]> {
    const batch: Buffer[] = [];
    const ids: number[] = [];
    for (let i = 0; i < count && !this.counts.closed; i += 1) {
      const streamId = this.nextStreamId;
      ids.push(streamId);
      this.nextStreamId += 2;
      const headersFlags = FLAG.END_HEADERS | (body === undefined && endStream ? FLAG.END_STREAM : 0);
      batch.push(frame(TYPE.HEADERS, headersFlags, streamId, headerBlock));
      if (body !== undefined) batch.push(frame(TYPE.DATA, endStream ? FLAG.END_STREAM : 0, streamId, body));
      this.counts.opened += 1;
      if (batch.length >= 256) await this.write(batch.splice(0));
    }
    if (batch.length > 0) await this.write(batch.splice(0));
    return ids;
  }

  /** Resets a stream (RST_STREAM, CANCEL by default) without half-closing it first, as node:http2 would. */
  reset(streamId: number, code = CANCEL): Promise<void> {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(code, 0);
    return this.write([frame(TYPE.RST_STREAM, 0, streamId, payload)]);
  }

  close(): void {
    this.socket.destroy();
  }

  private write(frames: Buffer[]): Promise<void> {
    if (this.counts.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.socket.write(Buffer.concat(frames))) resolve();
      else {
        const done = (): void => {
          this.socket.off('close', done);
          this.socket.off('drain', done);
          resolve();
        };
        this.socket.once('drain', done).once('close', done);
      }
    });
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    while (this.received.length >= FRAME_HEADER_BYTES) {
      const length = this.received.readUIntBE(0, 3);
      if (this.received.length < FRAME_HEADER_BYTES + length) break;
      const type = this.received.readUInt8(3);
      const flags = this.received.readUInt8(4);
      const payload = this.received.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      this.received = this.received.subarray(FRAME_HEADER_BYTES + length);
      this.onFrame(type, flags, payload);
    }
  }

  private onFrame(type: number, flags: number, payload: Buffer): void {
    if (type === TYPE.SETTINGS && (flags & FLAG.ACK) === 0) this.socket.write(frame(TYPE.SETTINGS, FLAG.ACK, 0));
    else if (type === TYPE.PING && (flags & FLAG.ACK) === 0 && this.answerPings) this.socket.write(frame(TYPE.PING, FLAG.ACK, 0, Buffer.from(payload)));
    else if (type === TYPE.HEADERS && (flags & FLAG.END_STREAM) !== 0) this.counts.endedByServer += 1;
    else if (type === TYPE.RST_STREAM) {
      if (payload.readUInt32BE(0) === REFUSED_STREAM) this.counts.refused += 1;
      else this.counts.reset += 1;
    } else if (type === TYPE.GOAWAY) {
      this.counts.goaway = { code: payload.readUInt32BE(4), debug: payload.subarray(8).toString('utf8') };
    }
  }
}
