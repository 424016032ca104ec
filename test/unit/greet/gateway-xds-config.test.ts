import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError } from '../../../src/common/config.js';
import { loadGatewayConfig } from '../../../src/greet/gateway/config.js';
import { generatedBootstrap } from '../../../src/greet/gateway/xds/config.js';
import { prepareXdsChannels } from '../../../src/greet/gateway/xds/xds-channel.js';

/** The ConfigError loading `env` throws (the test fails if it loads). */
function configError(env: Record<string, string>): ConfigError {
  let thrown: unknown;
  assert.throws(() => loadGatewayConfig(env), (error: unknown) => ((thrown = error), error instanceof ConfigError));
  return thrown as ConfigError;
}

const INLINE = JSON.stringify({ xds_servers: [{ server_uri: 'cp:18000', channel_creds: [{ type: 'insecure' }] }], node: { id: 'n1', locality: { zone: 'z' } } });

describe('gateway configuration, BALANCING=xds', () => {
  it("targets the Service's Listener and makes a bootstrap from LB_SVC_NAME, its node named after the pod, with a locality", () => {
    const config = loadGatewayConfig({ BALANCING: 'xds', LB_SVC_NAME: 'lookaside', GRPC_SVC: 'greet', POD_NAMESPACE: 'demo', GRPC_SERVER_PORT: '7000', POD_NAME: 'gw-1' });
    assert.equal(config.lookaside, undefined);
    assert.equal(config.xds?.target, 'xds:///greet.demo.svc.cluster.local:7000');
    assert.equal(config.xds?.bootstrap.source, 'generated');
    assert.deepEqual(JSON.parse(config.xds?.bootstrap.text ?? ''), {
      xds_servers: [{ server_uri: 'lookaside:50055', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'gw-1', locality: {} },
    });
    assert.equal(config.xds?.bootstrap.serverUri, 'lookaside:50055');
    assert.equal(config.xds?.bootstrap.nodeId, 'gw-1');
  });

  it('names the node after the host without POD_NAME, and takes LB_ADDR first', () => {
    const config = loadGatewayConfig({ BALANCING: 'xds', LB_ADDR: '10.0.0.5:6000', LB_SVC_NAME: 'ignored' });
    assert.equal(config.xds?.bootstrap.nodeId, hostname());
    assert.equal(config.xds?.bootstrap.serverUri, '10.0.0.5:6000');
  });

  it('takes GRPC_TARGET when it is an xds: target, and refuses any other', () => {
    assert.equal(loadGatewayConfig({ BALANCING: 'xds', LB_ADDR: 'x:1', GRPC_TARGET: 'xds:///greetserver.default:grpc' }).xds?.target, 'xds:///greetserver.default:grpc');
    assert.equal(loadGatewayConfig({ BALANCING: 'xds', LB_ADDR: 'x:1', GRPC_TARGET: 'xds://authority/greetserver.default:1' }).xds?.target, 'xds://authority/greetserver.default:1');
    for (const target of ['dns:///greetserver:50051', 'xds:', 'xds:///', 'greetserver:50051']) {
      assert.equal(configError({ BALANCING: 'xds', LB_ADDR: 'x:1', GRPC_TARGET: target }).variable, 'GRPC_TARGET', target);
    }
  });

  it('uses GRPC_XDS_BOOTSTRAP_CONFIG as given, needing no lookaside address', () => {
    const config = loadGatewayConfig({ BALANCING: 'xds', GRPC_XDS_BOOTSTRAP_CONFIG: INLINE });
    assert.deepEqual(config.xds?.bootstrap, { source: 'GRPC_XDS_BOOTSTRAP_CONFIG', text: INLINE, serverUri: 'cp:18000', nodeId: 'n1' });
  });

  it('reads GRPC_XDS_BOOTSTRAP, which wins over GRPC_XDS_BOOTSTRAP_CONFIG, as grpc does', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'xds-bootstrap-'));
    try {
      const path = join(directory, 'bootstrap.json');
      const text = generatedBootstrap('file-cp:1', 'from-file');
      await writeFile(path, text);
      const config = loadGatewayConfig({ BALANCING: 'xds', GRPC_XDS_BOOTSTRAP: path, GRPC_XDS_BOOTSTRAP_CONFIG: INLINE });
      assert.deepEqual(config.xds?.bootstrap, { source: 'GRPC_XDS_BOOTSTRAP', text, serverUri: 'file-cp:1', nodeId: 'from-file' });
      await writeFile(path, '{"xds_servers": [');
      assert.match(configError({ BALANCING: 'xds', GRPC_XDS_BOOTSTRAP: path }).message, /^GRPC_XDS_BOOTSTRAP: the xDS bootstrap is not JSON/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('refuses a bootstrap grpc-js-xds would refuse, naming the variable: no server, no node locality, bad creds', () => {
    const cases: Array<[object, RegExp]> = [
      [{ node: { id: 'a', locality: {} } }, /names no control plane/],
      [{ xds_servers: [], node: { id: 'a', locality: {} } }, /names no control plane/],
      [{ xds_servers: [{ server_uri: 'cp:1', channel_creds: [{ type: 'insecure' }] }], node: { id: 'a' } }, /locality/],
      [{ xds_servers: [{ server_uri: 'cp:1', channel_creds: 'insecure' }], node: { id: 'a', locality: {} } }, /not valid: .*channel_creds/],
    ];
    for (const [bootstrap, message] of cases) {
      const error = configError({ BALANCING: 'xds', GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) });
      assert.equal(error.variable, 'GRPC_XDS_BOOTSTRAP_CONFIG');
      assert.match(error.message, message);
    }
    assert.match(configError({ BALANCING: 'xds' }).message, /^LB_ADDR: BALANCING=xds needs the lookaside: .*GRPC_XDS_BOOTSTRAP/);
  });

  it('hands grpc-js-xds the bootstrap through GRPC_XDS_BOOTSTRAP_CONFIG, and refuses a process that names another', async () => {
    const bootstrap = loadGatewayConfig({ BALANCING: 'xds', LB_ADDR: 'lb:1', POD_NAME: 'p' }).xds?.bootstrap;
    assert.ok(bootstrap !== undefined);
    const environment: NodeJS.ProcessEnv = {};
    await prepareXdsChannels(bootstrap, environment);
    assert.equal(environment['GRPC_XDS_BOOTSTRAP_CONFIG'], bootstrap.text);
    await prepareXdsChannels(bootstrap, environment); // the same one again is fine
    // Its own GRPC_XDS_BOOTSTRAP_CONFIG, as a YAML block scalar leaves it (a trailing newline), is its own.
    const inline = `${INLINE}\n`;
    const given = loadGatewayConfig({ BALANCING: 'xds', GRPC_XDS_BOOTSTRAP_CONFIG: inline }).xds?.bootstrap;
    assert.ok(given !== undefined);
    await prepareXdsChannels(given, { GRPC_XDS_BOOTSTRAP_CONFIG: inline });
    await assert.rejects(prepareXdsChannels(bootstrap, { GRPC_XDS_BOOTSTRAP_CONFIG: INLINE }), /differs from the gateway's xDS bootstrap/);
    await assert.rejects(prepareXdsChannels(bootstrap, { GRPC_XDS_BOOTSTRAP: '/etc/other.json' }), /GRPC_XDS_BOOTSTRAP \(\/etc\/other.json\) would override/);
  });
});
