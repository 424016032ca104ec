import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

import type { Logger } from '../../common/logging.js';
import { parseEndpointsFile, type EndpointsFileContent } from './endpoints-file.js';
import { mergeSlices } from './slices.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type FollowOptions,
  type ServiceKey,
  type Subscription,
} from './types.js';

/** Editors write in bursts (truncate, write, rename); wait for quiet before reading. */
const RELOAD_DEBOUNCE_MS = 50;
/** A safety net for file systems where change events get lost (some bind mounts). */
const POLL_INTERVAL_MS = 2_000;

type Listener = (state: DiscoveryState) => void;

/**
 * `DISCOVERY=file`: endpoints from a YAML/JSON file, reloaded when it changes.
 * A broken edit is logged and the last good content stays in service.
 */
export class FileDiscovery implements DiscoverySource {
  readonly name = 'file';
  private content: EndpointsFileContent;
  private lastText: string;
  private readonly listeners = new Map<string, Set<Listener>>();
  private watcher: FSWatcher | undefined;
  private readonly pollTimer: NodeJS.Timeout;
  private debounceTimer: NodeJS.Timeout | undefined;
  private lastModifiedMs = 0;
  private reloading: Promise<void> = Promise.resolve();
  private closed = false;

  /** Reads the file once; a missing or broken file at start-up is an error. */
  static async open(path: string, logger: Logger): Promise<FileDiscovery> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`ENDPOINTS_FILE: cannot read ${path}: ${(error as Error).message}`);
    }
    let content: EndpointsFileContent;
    try {
      content = parseEndpointsFile(text);
    } catch (error) {
      throw new Error(`ENDPOINTS_FILE: ${path}: ${(error as Error).message}`);
    }
    const source = new FileDiscovery(path, text, content, logger);
    source.lastModifiedMs = (await stat(path)).mtimeMs;
    return source;
  }

  private constructor(
    private readonly path: string,
    text: string,
    content: EndpointsFileContent,
    private readonly logger: Logger,
  ) {
    this.content = content;
    this.lastText = text;
    this.logger.info({ path, services: content.size }, 'endpoints file loaded');
    this.watcher = this.watchDirectory();
    this.pollTimer = setInterval(() => void this.pollForChange(), POLL_INTERVAL_MS);
    this.pollTimer.unref();
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
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    this.listeners.clear();
    await this.reloading;
  }

  private stateOf(id: string): Extract<DiscoveryState, { kind: 'synced' }> {
    return { kind: 'synced', snapshot: mergeSlices(this.content.get(id) ?? []) };
  }

  private watchDirectory(): FSWatcher | undefined {
    const file = basename(this.path);
    try {
      // The directory, not the file: editors and `mv` replace the file, which ends a file watch.
      const watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.toString() === file) this.scheduleReload();
      });
      watcher.on('error', (error) => {
        this.logger.warn({ err: error }, 'watching the endpoints file failed; polling only');
      });
      return watcher;
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot watch the endpoints file; polling only');
      return undefined;
    }
  }

  private scheduleReload(): void {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private async pollForChange(): Promise<void> {
    try {
      const modifiedMs = (await stat(this.path)).mtimeMs;
      if (modifiedMs !== this.lastModifiedMs) this.scheduleReload();
    } catch {
      // A missing file is reported by the reload it triggers, not on every poll.
      if (this.lastModifiedMs !== -1) this.scheduleReload();
    }
  }

  private async readAndApply(): Promise<void> {
    if (this.closed) return;
    let text: string;
    try {
      this.lastModifiedMs = (await stat(this.path)).mtimeMs;
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      this.lastModifiedMs = -1;
      this.logger.error(
        { path: this.path, err: (error as Error).message },
        'cannot read the endpoints file; keeping the last good content',
      );
      return;
    }
    if (text === this.lastText || this.closed) return;
    if (text.trim() === '') {
      // Most likely a write caught half-way (truncate, then write); an operator
      // who means "no services" writes `services: []`.
      this.logger.warn({ path: this.path }, 'endpoints file is empty; keeping the last good content');
      return;
    }
    this.lastText = text;
    let content: EndpointsFileContent;
    try {
      content = parseEndpointsFile(text);
    } catch (error) {
      this.logger.error(
        { path: this.path, err: (error as Error).message },
        'endpoints file is broken; keeping the last good content',
      );
      return;
    }
    this.content = content;
    this.logger.info({ path: this.path, services: content.size }, 'endpoints file reloaded');
    for (const [id, listeners] of this.listeners) {
      const state = this.stateOf(id);
      for (const listener of [...listeners]) listener(state);
    }
  }
}
