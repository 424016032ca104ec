import { pino, type Logger } from 'pino';

import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

/**
 * The process's root logger: JSON lines on stdout. Modules take a child
 * (`logger.child({ module: 'discovery' })`) so every line says where it came from.
 */
export function createRootLogger(app: string, level: LogLevel): Logger {
  return pino(
    {
      name: app,
      level,
      base: { app, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous writes: nothing is logged per call, and the last lines before
    // process.exit (shutdown, start-up failures) must not be lost or reordered.
    pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
