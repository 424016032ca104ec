import { startService } from '../../common/service.js';
import { exitOnSignals } from '../../common/shutdown.js';
import { loadGatewayConfig } from './config.js';
import { createGateway } from './gateway.js';

void startService('greet-gateway', loadGatewayConfig, async (config, logger) => {
  const gateway = await createGateway(config, logger);
  exitOnSignals(logger, () => gateway.stop());
});
