import assert from 'node:assert/strict';

import { ConfigError } from '../../../src/common/config.js';
import { loadGreetServerConfig } from '../../../src/greet/server/config.js';

const HOST = { hostname: () => 'host-1', interfaces: () => ({}) };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadGreetServerConfig(env, HOST);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('greet server configuration: fault knobs', () => {
  it('burns no CPU and fails no call unless told to', () => {
    const config = loadGreetServerConfig({}, HOST);
    assert.deepEqual({ cpuMs: config.cpuMs, failRate: config.failRate, delayMs: config.delayMs }, { cpuMs: 0, failRate: 0, delayMs: 0 });
  });

  it('reads GREET_CPU_MS and GREET_FAIL_RATE', () => {
    const config = loadGreetServerConfig({ GREET_CPU_MS: '12', GREET_FAIL_RATE: '0.25' }, HOST);
    assert.deepEqual({ cpuMs: config.cpuMs, failRate: config.failRate }, { cpuMs: 12, failRate: 0.25 });
    assert.equal(loadGreetServerConfig({ GREET_FAIL_RATE: '1' }, HOST).failRate, 1);
  });

  it('names the variable and what it accepts', () => {
    assert.equal(configError({ GREET_FAIL_RATE: '1.5' }).message, 'GREET_FAIL_RATE: must be a number from 0 to 1, got "1.5"');
    assert.equal(configError({ GREET_FAIL_RATE: '50%' }).variable, 'GREET_FAIL_RATE');
    assert.match(configError({ GREET_CPU_MS: '-1' }).message, /^GREET_CPU_MS: must be a whole number from 0 to 10000/);
  });
});
