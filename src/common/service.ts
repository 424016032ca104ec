import type { Env, LogLevel } from './config.js';
import { createRootLogger, type Logger } from './logging.js';
import { failStartup } from './shutdown.js';

/**
 * The start-up every program shares: read the config once (a bad variable
 * stops it with a message naming the variable), make the root logger, run the
 * program; any start-up error is reported and exits 1.
 */
export async function startService<Config extends { readonly logLevel: LogLevel }>(
  app: string,
  loadConfig: (env: Env) => Config,
  run: (config: Config, logger: Logger) => Promise<void>,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    failStartup(error);
  }
  const logger = createRootLogger(app, config.logLevel);
  try {
    await run(config, logger);
  } catch (error) {
    failStartup(error, logger);
  }
}
