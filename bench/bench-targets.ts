/**
 * What the h2load benchmarks (bench-resolve, bench-lookaside) share: server
 * processes on free ports, pinned to a CPU, their CPU time and peak RSS from
 * /proc, the gRPC frame h2load sends and a raw HTTP/2 call that checks it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';

import { delay, type ServiceProcess } from '../test/support/process.js';

export class BenchError extends Error {
  override name = 'BenchError';
}

/** Kernel clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** A port free right now on 127.0.0.1 (the OS picks it; it is released at once for the child to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until the lookaside's /metrics answers (it binds gRPC first); fails if it exits or takes over 20 s. */
export async function waitForMetrics(child: ServiceProcess, metricsPort: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.child.exitCode !== null) {
      throw new BenchError(`the lookaside exited (${child.child.exitCode}) at start-up: ${child.stderr}${JSON.stringify(child.logs)}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new BenchError(`the lookaside did not serve /metrics on port ${metricsPort} within 20 s: ${child.stderr}`);
    }
    await delay(50);
  }
}

/** Pins every thread of a process to one CPU (threads it starts later inherit it). */
export function pinToCpu(name: string, pid: number, cpu: number): void {
  const result = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new BenchError(`taskset could not pin the ${name} server: ${result.stderr}`);
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Sets a process's peak RSS (VmHWM) back to its RSS now, so the next reading
 * is the peak of what follows; false when the kernel does not allow it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A message framed the gRPC way: 0 (not compressed), its length (big-endian), the bytes. */
export function grpcFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/**
 * Sends `body` once over plain HTTP/2 to `path` and checks the gRPC status in
 * the trailers; returns the response's messages, unframed.
 */
export function rawGrpcCall(name: string, port: number, path: string, body: Buffer): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    const fail = (message: string): void => {
      session.destroy();
      reject(new BenchError(`${name}: raw HTTP/2 call with the h2load body: ${message}`));
    };
    session.on('error', (error) => fail(error.message));
    const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let httpStatus: number | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    const chunks: Buffer[] = [];
    request.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      grpcStatus = headers['grpc-status'] as string | undefined;
      grpcMessage = headers['grpc-message'] as string | undefined;
    });
    request.on('trailers', (trailers) => {
      grpcStatus = trailers['grpc-status'] as string | undefined;
      grpcMessage = trailers['grpc-message'] as string | undefined;
    });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', (error) => fail(error.message));
    request.on('end', () => {
      session.close();
      if (httpStatus !== 200) return fail(`HTTP status ${httpStatus}`);
      if (grpcStatus !== '0') return fail(`grpc-status ${grpcStatus} ${grpcMessage ?? ''}`);
      const data = Buffer.concat(chunks);
      const messages: Buffer[] = [];
      for (let offset = 0; offset < data.length; ) {
        if (data.length - offset < 5) return fail(`malformed gRPC frame at byte ${offset} of ${data.length}`);
        const end = offset + 5 + data.readUInt32BE(offset + 1);
        if (end > data.length) return fail(`gRPC frame at byte ${offset} runs past the end (${data.length} bytes)`);
        messages.push(data.subarray(offset + 5, end));
        offset = end;
      }
      resolve(messages);
    });
    request.end(body);
  });
}

/** h2load's request bodies in `dir`: one framed request (unary), and `perStream` of them (one ResolveStream). */
export async function writeResolveBodies(dir: string, frame: Buffer, perStream: number): Promise<{ unaryBody: string; streamBody: string }> {
  const unaryBody = join(dir, 'unary.bin');
  const streamBody = join(dir, 'stream.bin');
  await writeFile(unaryBody, frame);
  await writeFile(streamBody, Buffer.concat(Array.from({ length: perStream }, () => frame)));
  return { unaryBody, streamBody };
}
