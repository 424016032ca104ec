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

  it('talks plaintext to the lookaside unless LB_TLS_CA_FILE or a client certificate is set', () => {
    assert.equal(loadGatewayConfig({ LB_ADDR: 'lookaside:50055' }).lookaside?.tls, undefined);
    assert.deepEqual(loadGatewayConfig({ LB_ADDR: 'lookaside:50055', LB_TLS_CA_FILE: '/ca/ca.crt' }).lookaside?.tls, {
      caFile: '/ca/ca.crt',
      clientCertFile: undefined,
      clientKeyFile: undefined,
    });
    const mutual = loadGatewayConfig({ LB_ADDR: 'lookaside:50055', LB_TLS_CERT_FILE: '/me/tls.crt', LB_TLS_KEY_FILE: '/me/tls.key' }).lookaside?.tls;
    assert.deepEqual(mutual, { caFile: undefined, clientCertFile: '/me/tls.crt', clientKeyFile: '/me/tls.key' });
    assert.match(configError({ LB_ADDR: 'lookaside:50055', LB_TLS_KEY_FILE: '/me/tls.key' }).message, /^LB_TLS_CERT_FILE: is required with LB_TLS_KEY_FILE/);
    assert.match(configError({ LB_ADDR: 'lookaside:50055', LB_TLS_CERT_FILE: '/me/tls.crt' }).message, /^LB_TLS_KEY_FILE: is required with LB_TLS_CERT_FILE/);
    assert.match(
      configError({ BALANCING: 'xds', LB_ADDR: 'lookaside:50055', LB_TLS_CA_FILE: '/ca/ca.crt' }).message,
      /^LB_TLS_CA_FILE: applies to BALANCING=lookaside only/,
    );
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

  it('asks for any of the lookaside’s policies, and reports calls unless told not to', () => {
    const config = loadGatewayConfig({ LB_ADDR: 'x:1', LB_POLICY: 'LEAST_REQUEST' });
    assert.equal(config.lookaside?.policy, 'least_request');
    assert.equal(config.lookaside?.reportCalls, true);
    assert.equal(loadGatewayConfig({ LB_ADDR: 'x:1', LB_POLICY: 'weighted_round_robin' }).lookaside?.policy, 'weighted_round_robin');
    assert.equal(loadGatewayConfig({ LB_ADDR: 'x:1', LB_REPORT_CALLS: 'false' }).lookaside?.reportCalls, false);
    assert.equal(configError({ LB_ADDR: 'x:1', LB_REPORT_CALLS: 'no' }).variable, 'LB_REPORT_CALLS');
  });

  it('hedges a Greet after a quarter of GREET_TIMEOUT_MS by default; GREET_HEDGE_DELAY_MS sets it, 0 turns it off, and it must leave the hedge some budget', () => {
    const lookaside = { LB_ADDR: 'lookaside:50055' };
    assert.equal(loadGatewayConfig(lookaside).lookaside?.hedgeDelayMs, 500);
    assert.equal(loadGatewayConfig({ ...lookaside, GREET_TIMEOUT_MS: '1000' }).lookaside?.hedgeDelayMs, 250);
    assert.equal(loadGatewayConfig({ ...lookaside, GREET_HEDGE_DELAY_MS: '300' }).lookaside?.hedgeDelayMs, 300);
    assert.equal(loadGatewayConfig({ ...lookaside, GREET_HEDGE_DELAY_MS: '0' }).lookaside?.hedgeDelayMs, 0);
    const error = configError({ ...lookaside, GREET_TIMEOUT_MS: '1000', GREET_HEDGE_DELAY_MS: '1000' });
    assert.equal(error.variable, 'GREET_HEDGE_DELAY_MS');
    assert.match(error.message, /below GREET_TIMEOUT_MS \(1000\)/);
    assert.equal(configError({ ...lookaside, GREET_HEDGE_DELAY_MS: '-1' }).variable, 'GREET_HEDGE_DELAY_MS');
  });

  it('refuses a policy the seed API does not have', () => {
    const error = configError({ LB_ADDR: 'x:1', LB_API: 'seed', LB_POLICY: 'least_request' });
    assert.equal(error.variable, 'LB_POLICY');
    assert.match(error.message, /round_robin or random with LB_API=seed/);
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

  it('keeps connections alive with HTTP/2 PINGs by default, to the lookaside and to greet servers; 0 turns the PINGs off', () => {
    const defaults = loadGatewayConfig({ LB_ADDR: 'x:1' });
    assert.deepEqual(defaults.lookaside?.keepalive, { timeMs: 10_000, timeoutMs: 5_000 });
    assert.deepEqual(defaults.greetKeepalive, { timeMs: 10_000, timeoutMs: 5_000 });
    const set = loadGatewayConfig({ LB_ADDR: 'x:1', LB_KEEPALIVE_TIME_MS: '0', LB_KEEPALIVE_TIMEOUT_MS: '800', GREET_KEEPALIVE_TIME_MS: '2000', GREET_KEEPALIVE_TIMEOUT_MS: '900' });
    assert.deepEqual(set.lookaside?.keepalive, { timeMs: 0, timeoutMs: 800 });
    assert.deepEqual(set.greetKeepalive, { timeMs: 2_000, timeoutMs: 900 });
    assert.equal(configError({ LB_ADDR: 'x:1', LB_KEEPALIVE_TIMEOUT_MS: '0' }).variable, 'LB_KEEPALIVE_TIMEOUT_MS');
    assert.equal(configError({ LB_ADDR: 'x:1', GREET_KEEPALIVE_TIME_MS: '-1' }).variable, 'GREET_KEEPALIVE_TIME_MS');
  });

  it('bounds the HTTP server: connections, header and request timeouts, idle keep-alive', () => {
    assert.deepEqual(loadGatewayConfig({ LB_ADDR: 'x:1' }).http, {
      maxConnections: 1_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
    });
    const set = loadGatewayConfig({
      LB_ADDR: 'x:1',
      HTTP_MAX_CONNECTIONS: '50',
      HTTP_HEADERS_TIMEOUT_MS: '2000',
      HTTP_REQUEST_TIMEOUT_MS: '4000',
      HTTP_KEEPALIVE_TIMEOUT_MS: '1000',
    });
    assert.deepEqual(set.http, { maxConnections: 50, headersTimeoutMs: 2_000, requestTimeoutMs: 4_000, keepAliveTimeoutMs: 1_000 });
    assert.equal(configError({ LB_ADDR: 'x:1', HTTP_MAX_CONNECTIONS: '0' }).variable, 'HTTP_MAX_CONNECTIONS');
    const order = configError({ LB_ADDR: 'x:1', HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' });
    assert.equal(order.variable, 'HTTP_HEADERS_TIMEOUT_MS');
    assert.match(order.message, /must not exceed HTTP_REQUEST_TIMEOUT_MS \(4000\)/);
  });
});
