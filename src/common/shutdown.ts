import type { Logger } from './logging.js';

/**
 * Runs `shutdown` once on the first SIGTERM or SIGINT, then exits with its
 * code. A second signal while shutting down exits at once with 1, for people
 * who press Ctrl-C twice.
 */
export function exitOnSignals(logger: Logger, shutdown: (signal: string) => Promise<void>): void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    shutdown(signal).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Prints a start-up failure for a person and exits 1; before a logger exists it goes to stderr. */
export function failStartup(error: unknown, logger?: Logger): never {
  const message = error instanceof Error ? error.message : String(error);
  if (logger !== undefined) logger.fatal({ err: message }, 'start-up failed');
  process.stderr.write(`start-up failed: ${message}\n`);
  process.exit(1);
}
