import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

import type { Logger } from '../../common/logging.js';

/** Editors write in bursts (truncate, write, rename); wait for quiet before reading. */
const CHANGE_DEBOUNCE_MS = 50;
/** The safety net for file systems whose change events get lost (some bind mounts, NFS). */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export interface FileChangeOptions {
  /** Follow file system events in the file's directory (default true). */
  readonly watch?: boolean;
  /** How often the file's identity is compared with the version last read; 0 = never (default 2 s). */
  readonly pollIntervalMs?: number;
}

/**
 * What tells one version of a file from another without reading it: the
 * resolved target's device and inode (a symlink swap, as a ConfigMap volume
 * does with `..data`, points at a new file), size, and both timestamps (ctime
 * cannot be set back, so a rewrite that keeps mtime still shows).
 */
export async function fileIdentity(path: string): Promise<string> {
  try {
    const found = await stat(path);
    return `${found.dev}:${found.ino}:${found.size}:${found.mtimeMs}:${found.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * Calls `onChange` when a file may have changed, from two independent
 * sources: file system events in its directory, and a poll of its identity.
 * Either can be turned off. An event naming the file itself always counts;
 * any other event in the directory (`..data` swapped, a symlink retargeted)
 * counts once the file's identity differs from the version last read.
 */
export class FileChanges {
  private readonly watcher: FSWatcher | undefined;
  private readonly pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private fileNamedInEvent = false;
  private closed = false;

  constructor(
    private readonly path: string,
    /** The identity of the version read at start-up. */
    private identityRead: string,
    private readonly onChange: () => void,
    private readonly logger: Logger,
    options: FileChangeOptions = {},
  ) {
    if (options.watch ?? true) this.watcher = this.watchDirectory();
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.compareIdentity(), pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  /** Records the identity of the version just read (taken before reading it); later ones differ. */
  noteRead(identity: string): void {
    this.identityRead = identity;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
  }

  private watchDirectory(): FSWatcher | undefined {
    const file = basename(this.path);
    try {
      // The directory, not the file: editors and `mv` replace the file, which ends a file watch.
      const watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.toString() === file) this.fileNamedInEvent = true;
        clearTimeout(this.debounceTimer);
        this.debounceTimer = setTimeout(() => void this.afterEvents(), CHANGE_DEBOUNCE_MS);
        this.debounceTimer.unref();
      });
      watcher.on('error', (error) => {
        this.logger.warn({ err: error, path: this.path }, 'watching a file for changes failed; polling only');
      });
      return watcher;
    } catch (error) {
      this.logger.warn({ err: error, path: this.path }, 'cannot watch a file for changes; polling only');
      return undefined;
    }
  }

  private async afterEvents(): Promise<void> {
    const named = this.fileNamedInEvent;
    this.fileNamedInEvent = false;
    if (named) this.report();
    else await this.compareIdentity();
  }

  private async compareIdentity(): Promise<void> {
    if ((await fileIdentity(this.path)) !== this.identityRead) this.report();
  }

  private report(): void {
    if (!this.closed) this.onChange();
  }
}
