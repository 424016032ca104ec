import assert from 'node:assert/strict';

import { ConfigError } from '../../../src/common/config.js';
import { loadGatewayConfig } from '../../../src/greet/gateway/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadGatewayConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('gateway configuration', () => {
  it('defaults to lookaside balancing on port 9091 for default/greetserver', () => {
    const config = loadGatewayConfig({ LB_ADDR: 'lookaside:50055' });
    assert.equal(config.balancing, 'lookaside');
    assert.equal(config.port, 9091);
    assert.equal(config.service, 'greetserver');
    assert.equal(config.namespace, 'default');
    assert.equal(config.lookaside?.target, 'lookaside:50055');
    assert.equal(config.lookaside?.api, 'v1');
    assert.equal(config.lookaside?.policy, 'round_robin');
  });

  it('builds the lookaside address from LB_SVC_NAME and LB_PORT, as the original did', () => {
    assert.equal(loadGatewayConfig({ LB_SVC_NAME: 'lookaside', LB_PORT: '6000' }).lookaside?.target, 'lookaside:6000');
    assert.equal(loadGatewayConfig({ LB_SVC_NAME: 'lookaside' }).lookaside?.target, 'lookaside:50055');
  });

  it('needs to know where the lookaside is in lookaside mode, and says how to tell it', () => {
    const error = configError({});
    assert.equal(error.variable, 'LB_ADDR');
    assert.match(error.message, /LB_SVC_NAME/);
  });

  it('does not need a lookaside in round_robin or none mode', () => {
    const config = loadGatewayConfig({ BALANCING: 'round_robin', GRPC_SVC: 'greet', POD_NAMESPACE: 'demo', GRPC_SERVER_PORT: '7000' });
    assert.equal(config.lookaside, undefined);
    assert.equal(config.directTarget, 'dns:///greet.demo.svc:7000');
    assert.equal(loadGatewayConfig({ BALANCING: 'none', GRPC_TARGET: 'ipv4:127.0.0.1:1' }).directTarget, 'ipv4:127.0.0.1:1');
  });

  it('names the variable and the accepted values for a bad choice', () => {
    const error = configError({ BALANCING: 'dns' });
    assert.equal(error.variable, 'BALANCING');
    assert.match(error.message, /lookaside, round_robin, none/);
    assert.equal(configError({ LB_ADDR: 'x:1', LB_POLICY: 'least' }).variable, 'LB_POLICY');
    assert.equal(configError({ LB_ADDR: 'x:1', LB_API: 'v2' }).variable, 'LB_API');
  });

  it('refuses malformed addresses, ports and names', () => {
    assert.equal(configError({ LB_ADDR: 'lookaside' }).variable, 'LB_ADDR');
    assert.equal(configError({ LB_ADDR: 'lookaside:0' }).variable, 'LB_ADDR');
    assert.equal(configError({ LB_ADDR: 'x:1', GATEWAY_PORT: '70000' }).variable, 'GATEWAY_PORT');
    assert.equal(configError({ LB_ADDR: 'x:1', GRPC_SVC: 'Greet_Server' }).variable, 'GRPC_SVC');
    assert.equal(configError({ LB_ADDR: 'x:1', RESOLVE_TIMEOUT_MS: '0' }).variable, 'RESOLVE_TIMEOUT_MS');
    assert.equal(configError({ LB_ADDR: 'x:1', MAX_CHANNELS: '0' }).variable, 'MAX_CHANNELS');
  });

  it('accepts IPv6 lookaside addresses', () => {
    assert.equal(loadGatewayConfig({ LB_ADDR: '[::1]:50055' }).lookaside?.target, '[::1]:50055');
    assert.equal(loadGatewayConfig({ LB_SVC_NAME: '::1' }).lookaside?.target, '[::1]:50055');
  });
});
