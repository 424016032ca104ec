import { startService } from '../common/service.js';
import { exitOnSignals } from '../common/shutdown.js';
import { loadLookasideConfig } from './config.js';
import { createLookaside } from './lookaside.js';

void startService('lookaside', loadLookasideConfig, async (config, logger) => {
  const lookaside = await createLookaside(config, logger);
  exitOnSignals(logger, () => lookaside.stop());
});
