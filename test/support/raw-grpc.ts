import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';

/** What came back on one raw gRPC stream. */
export interface RawGrpcAnswer {
  /** grpc-status from the trailers (or a trailers-only response); undefined when none came. */
  readonly status: number | undefined;
  /** grpc-message, percent-decoded. */
  readonly message: string;
  /** The response messages, without their 5-byte prefix. */
  readonly messages: readonly Buffer[];
  /** The HTTP/2 stream's RST_STREAM code when it closed (0 = NO_ERROR, also a clean close). */
  readonly rstCode: number;
}

/** One gRPC message as it goes on the wire: not compressed, 4-byte big-endian length, the bytes. */
export function grpcFrame(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/**
 * A gRPC client on plain node:http2 that sends exactly the bytes a test
 * gives it: undecodable messages, frames cut short, several messages on a
 * unary call, or none. grpc-js's client cannot be made to send those.
 */
export class RawGrpcClient {
  private readonly session: ClientHttp2Session;
  /** The server's SETTINGS, once they arrived. */
  readonly remoteSettings: Promise<ClientHttp2Session['remoteSettings']>;

  constructor(target: string) {
    this.session = connect(`http://${target}`);
    this.session.on('error', () => undefined);
    this.remoteSettings = new Promise((resolve) => this.session.once('remoteSettings', resolve));
  }

  /**
   * Sends `body` on a call to `path` and ends the request (END_STREAM) unless
   * `keepOpen`; resolves when the stream closes.
   */
  call(path: string, body: Buffer, options: { readonly keepOpen?: boolean; readonly timeoutMs?: number } = {}): Promise<RawGrpcAnswer> {
    const stream = this.session.request(
      { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    stream.on('error', () => undefined);
    if (options.keepOpen === true) stream.write(body);
    else stream.end(body);
    return new Promise((resolve, reject) => {
      let headers: IncomingHttpHeaders = {};
      const received: Buffer[] = [];
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error(`no end of ${path} within ${options.timeoutMs ?? 10_000} ms`));
      }, options.timeoutMs ?? 10_000);
      stream.on('response', (responseHeaders) => (headers = { ...headers, ...responseHeaders }));
      stream.on('trailers', (trailers) => (headers = { ...headers, ...trailers }));
      stream.on('data', (chunk: Buffer) => received.push(chunk));
      stream.on('close', () => {
        clearTimeout(timer);
        const status = headers['grpc-status'];
        resolve({
          status: status === undefined ? undefined : Number(status),
          message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
          messages: unframe(Buffer.concat(received)),
          rstCode: stream.rstCode ?? 0,
        });
      });
    });
  }

  close(): void {
    this.session.destroy();
  }
}

function unframe(bytes: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const length = bytes.readUInt32BE(offset + 1);
    messages.push(bytes.subarray(offset + 5, offset + 5 + length));
    offset += 5 + length;
  }
  return messages;
}
