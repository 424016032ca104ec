import assert from 'node:assert/strict';

import type { Client, Server } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../../src/common/grpc-metrics.js';
import { bindServer } from '../../../src/common/grpc.js';
import { silentLogger } from '../../../src/common/logging.js';
import type { KeepaliveSettings } from '../../../src/greet/gateway/config.js';
import { callGreet, openGreetChannel, type GreetCallResult } from '../../../src/greet/gateway/greet-client.js';
import { createGreetServer } from '../../../src/greet/server/server.js';
import { eventually } from '../../support/process.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const REQUEST = { first_name: 'Ada', last_name: 'Lovelace' };

describe('greet channels: grpc-js keepalive against a real greet server behind a freezable proxy', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setup(keepalive: KeepaliveSettings): Promise<{ channel: Client; proxy: TcpProxy }> {
    const { server, health } = createGreetServer({
      podName: 'greet-0',
      podIp: '127.0.0.1',
      delayMs: 0,
      grpcMetrics: new GrpcServerMetrics(new Registry()),
      logger: silentLogger(),
    });
    const port = await bindServer(server, '127.0.0.1', 0);
    health.setAll('SERVING');
    const proxy = await TcpProxy.start(port);
    const channel = openGreetChannel(proxy.address, keepalive);
    cleanup.push(() => (server as Server).forceShutdown(), () => proxy.close(), () => channel.close());
    const first = await callGreet(channel, REQUEST, 5_000);
    assert.ok(first.ok, JSON.stringify(first));
    return { channel, proxy };
  }

  it('abandons a frozen connection and reconnects, instead of sending calls into it until the kernel gives up', async () => {
    const { channel, proxy } = await setup({ timeMs: 100, timeoutMs: 200 });
    proxy.freeze();
    await eventually(() => (proxy.connections[0]?.closedBy === 'client' ? true : undefined), 10_000, 'the channel to close the frozen connection');
    const after: GreetCallResult = await eventually(async () => {
      const result = await callGreet(channel, REQUEST, 1_000);
      return result.ok ? result : undefined;
    }, 10_000, 'a Greet on a new connection');
    assert.equal(after.ok && after.response.pod_name, 'greet-0');
    assert.equal(proxy.connections.length, 2);
  });

  it('keeps one connection while the greet server answers its PINGs (grpc-js servers enforce no PING rate)', async () => {
    const { channel, proxy } = await setup({ timeMs: 50, timeoutMs: 5_000 });
    // Twenty keepalive periods, idle and with calls: a server that refused the rate would send GOAWAY.
    for (let i = 0; i < 10; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok((await callGreet(channel, REQUEST, 5_000)).ok);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(proxy.connections.length, 1);
    assert.equal(proxy.connections[0]?.closedBy, undefined);
  });
});
