import { startService } from '../common/service.js';
import { exitOnSignals } from '../common/shutdown.js';
import { loadLookasideConfig } from './config.js';
import { createLookaside } from './lookaside.js';
import { createPrimary } from './workers/primary.js';

void startService('lookaside', loadLookasideConfig, async (config, logger) => {
  // One worker is the single process it always was: no cluster, no IPC.
  const lookaside = config.workers === 1 ? await createLookaside(config, logger) : await createPrimary(config, logger);
  exitOnSignals(logger, () => lookaside.stop());
});
