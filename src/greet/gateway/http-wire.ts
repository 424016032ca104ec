import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** After an error answer, a client that neither reads nor hangs up is cut off this long later. */
const CLOSE_LINGER_MS = 1_000;

/** `{"error": {"code", "message"}}`, the body of every error the gateway sends. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** Collects the body up to `limitBytes`; stops reading once it is over. */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<string | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: string | 'too-large' | 'aborted'): void => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    request.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limitBytes) {
        settle('too-large');
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => settle(Buffer.concat(chunks, size).toString('utf8')));
    request.on('error', () => settle('aborted'));
    request.on('close', () => settle('aborted'));
  });
}

/** What node:http leaves on a socket whose request is being answered (not typed: internal, but what its own handler checks). */
type HttpSocket = Socket & { readonly _httpMessage?: { readonly headersSent: boolean } | null };

/**
 * Malformed or too slow HTTP never reaches a handler; answer it in JSON too,
 * then hang up: 408 when the headers or the whole request did not arrive in
 * time (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS; an idle new
 * connection included), 431 for headers too large, else 400. Returns the
 * status sent, or undefined when the socket was only closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: HttpSocket): number | undefined {
  // As node's own handler: never write into an answer already under way.
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent === true) {
    socket.destroy();
    return undefined;
  }
  const [status, code, message] = describe(error.code);
  const body = errorBody(code, message);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
  return status;
}

function describe(code: string | undefined): [number, string, string] {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'REQUEST_TIMEOUT', 'the request did not arrive in time'];
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'HEADERS_TOO_LARGE', 'the request headers are too large'];
    default:
      return [400, 'BAD_REQUEST', 'the request is not valid HTTP/1.1'];
  }
}
