import { open } from 'node:fs/promises';

import type { Logger } from '../../common/logging.js';
import { EndpointsFileError, NoServicesError, type EndpointsFileContent } from './endpoints-file.js';
import { parseEndpointsFileOffThread } from './endpoints-file-thread.js';
import { FileChanges, fileIdentity, type FileChangeOptions } from './file-changes.js';
import { mergeSlices } from './slices.js';
import { StaticRoutes } from '../routing/static-routes.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type FollowOptions,
  type ServiceKey,
  type Subscription,
} from './types.js';

/**
 * The largest endpoints file read (1 MiB, 15,000–37,000 endpoints). The YAML
 * parser needs 1–2 s and about 100 MB for a file this size (bench/endpoints-file-reload.ts);
 * larger ones are refused rather than let a stray file exhaust the pod's memory.
 */
export const ENDPOINTS_FILE_MAX_BYTES = 1_048_576;

const READ_CHUNK_BYTES = 65_536;

export interface FileDiscoveryOptions extends FileChangeOptions {
  /** Files larger than this are refused (default ENDPOINTS_FILE_MAX_BYTES). */
  readonly maxBytes?: number;
  /** Turns the file's text into content; by default in a worker thread, off the event loop. */
  readonly parse?: (text: string) => Promise<EndpointsFileContent>;
}

type Listener = (state: DiscoveryState) => void;

/**
 * `DISCOVERY=file`: endpoints from a YAML/JSON file, reloaded when it changes.
 * A broken edit, a file with no `services` list (emptied, cut off) and a file
 * over the size limit are logged, and the last good content stays in service.
 */
export class FileDiscovery implements DiscoverySource {
  readonly name = 'file';
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly changes: FileChanges;
  /** The file's `routes`, swapped with its endpoints in the same turn of the event loop. */
  readonly routes: StaticRoutes;
  private reloading: Promise<void> = Promise.resolve();
  private closed = false;

  /** Reads the file once; a missing, broken, empty or oversized file at start-up is an error. */
  static async open(path: string, logger: Logger, options: FileDiscoveryOptions = {}): Promise<FileDiscovery> {
    const identity = await fileIdentity(path);
    let text: string;
    let content: EndpointsFileContent;
    try {
      text = await readBounded(path, options.maxBytes ?? ENDPOINTS_FILE_MAX_BYTES);
      content = await (options.parse ?? parseEndpointsFileOffThread)(text);
    } catch (error) {
      const message = (error as Error).message;
      throw new Error(
        error instanceof EndpointsFileError ? `ENDPOINTS_FILE: ${path}: ${message}` : `ENDPOINTS_FILE: cannot read ${path}: ${message}`,
        { cause: error },
      );
    }
    return new FileDiscovery(path, identity, text, content, logger, options);
  }

  private constructor(
    private readonly path: string,
    identity: string,
    private lastText: string,
    private content: EndpointsFileContent,
    private readonly logger: Logger,
    private readonly options: FileDiscoveryOptions,
  ) {
    this.routes = new StaticRoutes(content.routes);
    this.logger.info({ path, services: content.size, routes: this.routes.routes.length }, 'endpoints file loaded');
    this.changes = new FileChanges(path, identity, () => void this.reload(), logger, options);
  }

  describeMissing(service: ServiceKey): string {
    const id = serviceKeyString(service);
    return this.content.has(id)
      ? `${id} is listed in the endpoints file ${this.path} with no endpoints`
      : `${id} is not listed in the endpoints file ${this.path}`;
  }

  follow(service: ServiceKey, onState: Listener, options: FollowOptions = {}): Subscription {
    const id = serviceKeyString(service);
    let listeners = this.listeners.get(id);
    if (listeners === undefined) {
      listeners = new Set();
      this.listeners.set(id, listeners);
    }
    listeners.add(onState);
    const stop = (): void => {
      const current = this.listeners.get(id);
      current?.delete(onState);
      if (current?.size === 0) this.listeners.delete(id);
    };
    setImmediate(() => {
      if (!this.listeners.get(id)?.has(onState)) return;
      const state = this.stateOf(id);
      if (options.endIfMissing === true && state.snapshot.sliceCount === 0) stop();
      onState(state);
    });
    return { stop };
  }

  /** Reads the file again now; resolves when done. Exposed for tests and SIGHUP. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.readAndApply());
    return this.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.changes.close();
    this.listeners.clear();
    await this.reloading;
  }

  private stateOf(id: string): Extract<DiscoveryState, { kind: 'synced' }> {
    return { kind: 'synced', snapshot: mergeSlices(this.content.get(id) ?? []) };
  }

  private async readAndApply(): Promise<void> {
    if (this.closed) return;
    // Taken before reading: a change made while reading shows as a new identity on the next poll.
    const identity = await fileIdentity(this.path);
    let text: string;
    try {
      text = await readBounded(this.path, this.options.maxBytes ?? ENDPOINTS_FILE_MAX_BYTES);
    } catch (error) {
      this.changes.noteRead(identity);
      this.keepLastGood('error', error, error instanceof FileTooLargeError ? 'endpoints file is too large' : 'cannot read the endpoints file');
      return;
    }
    this.changes.noteRead(identity);
    if (text === this.lastText || this.closed) return;
    let content: EndpointsFileContent;
    try {
      content = await (this.options.parse ?? parseEndpointsFileOffThread)(text);
    } catch (error) {
      // Most likely a write caught half-way (truncate, then write): not remembered,
      // so the same good text coming back is not a change.
      if (error instanceof NoServicesError) this.keepLastGood('warn', error, 'endpoints file has no services list');
      else {
        this.lastText = text;
        this.keepLastGood('error', error, 'endpoints file is broken');
      }
      return;
    }
    if (this.closed) return;
    this.lastText = text;
    this.content = content;
    this.routes.replace(content.routes ?? []);
    this.logger.info({ path: this.path, services: content.size, routes: this.routes.routes.length }, 'endpoints file reloaded');
    for (const [id, listeners] of this.listeners) {
      const state = this.stateOf(id);
      for (const listener of [...listeners]) listener(state);
    }
  }

  private keepLastGood(level: 'warn' | 'error', error: unknown, what: string): void {
    this.logger[level]({ path: this.path, err: (error as Error).message }, `${what}; keeping the last good content`);
  }
}

/** Reads a UTF-8 file of at most `maxBytes`; a larger one (even one growing while read) is refused. */
async function readBounded(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new FileTooLargeError(`is ${size} bytes`, maxBytes);
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new FileTooLargeError('grew while read', maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

class FileTooLargeError extends EndpointsFileError {
  constructor(what: string, maxBytes: number) {
    super(`${what}, more than the ${maxBytes} bytes an endpoints file may have`);
  }
}
