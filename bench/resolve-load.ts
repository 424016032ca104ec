import { connect, type ClientHttp2Session } from 'node:http2';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';

const PATH = '/lookaside.v1.Lookaside/Resolve';

/** What one load run did. */
export interface LoadRun {
  readonly ok: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** The first failure's grpc-status and message, if any. */
  readonly firstFailure: string | undefined;
}

/** Encodes ResolveRequests, framed for the wire, for the given Services. */
export function resolveBodies(services: ReadonlyArray<{ namespace: string; name: string }>): Buffer[] {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const resolve = serviceConstructor(grpcObject, 'lookaside.v1.Lookaside').service['Resolve'];
  if (resolve === undefined) throw new Error('lookaside.v1.Lookaside has no Resolve');
  return services.map(({ namespace, name }) => {
    const payload = resolve.requestSerialize({ service: name, namespace, policy: 'ROUND_ROBIN' });
    const body = Buffer.alloc(5 + payload.length);
    body.writeUInt32BE(payload.length, 1);
    payload.copy(body, 5);
    return body;
  });
}

/**
 * Unary Resolve calls on plain node:http2 (a grpc-js client would cost more
 * CPU than the server it measures): `sessions` connections × `streams` calls
 * in flight, for `durationMs`, taking the bodies in turn. Every answer's
 * grpc-status is checked.
 */
export async function runLoad(
  target: string,
  bodies: readonly Buffer[],
  options: { sessions: number; streams: number; durationMs: number },
): Promise<LoadRun> {
  const sessions = await Promise.all(Array.from({ length: options.sessions }, () => open(target)));
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const startedMs = performance.now();
  const deadline = startedMs + options.durationMs;
  const call = (session: ClientHttp2Session, body: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' });
      let status: string | undefined;
      let message = '';
      stream.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
      });
      stream.on('trailers', (trailers) => {
        status = String(trailers['grpc-status']);
        message = String(trailers['grpc-message'] ?? '');
      });
      stream.on('data', () => undefined);
      stream.on('error', () => undefined);
      stream.on('close', () => {
        if (status === '0') ok++;
        else {
          failed++;
          firstFailure ??= `grpc-status ${status ?? 'none'} ${decodeURIComponent(message)}`;
        }
        resolve();
      });
      stream.end(body);
    });
  await Promise.all(
    sessions.flatMap((session) =>
      Array.from({ length: options.streams }, async () => {
        while (performance.now() < deadline) {
          const body = bodies[next] as Buffer;
          next = next + 1 === bodies.length ? 0 : next + 1;
          await call(session, body);
        }
      }),
    ),
  );
  const elapsedMs = performance.now() - startedMs;
  for (const session of sessions) session.close();
  return { ok, failed, elapsedMs, firstFailure };
}

function open(target: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${target}`);
    session.once('error', reject);
    session.once('remoteSettings', () => {
      session.off('error', reject);
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

/** A copy of `items` in random order (Fisher–Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
