import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';

import { Client, credentials, status as Status, type ServiceError } from '@grpc/grpc-js';

import { listenWithLimits, type GrpcListener } from '../../src/common/grpc-listener.js';
import { shutdownServer } from '../../src/common/grpc.js';
import { LookasideHarness, until } from '../support/lookaside-server.js';

describe('listenWithLimits (the gRPC port on node:net)', () => {
  let harness: LookasideHarness;
  let listener: GrpcListener | undefined;
  const sockets: Socket[] = [];
  const channels: Client[] = [];

  beforeEach(() => {
    harness = new LookasideHarness();
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const channel of channels.splice(0)) channel.close();
    harness.front.forceShutdown();
    await listener?.close();
    listener = undefined;
  });

  function resolve(target: string, service: string): Promise<ServiceError | null> {
    const channel = new Client(target, credentials.createInsecure());
    channels.push(channel);
    const method = harness.method('Resolve');
    return new Promise((done) => channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service }, (error) => done(error)));
  }

  function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
    return new Promise((resolve) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
      socket.on('error', () => undefined);
      sockets.push(socket);
    });
  }

  it('serves gRPC on port 0 of an IPv4 and of an IPv6 host', async () => {
    for (const [host, target] of [
      ['127.0.0.1', (port: number) => `127.0.0.1:${port}`],
      ['::1', (port: number) => `[::1]:${port}`],
    ] as const) {
      const ipListener = await listenWithLimits(harness.front, { host, port: 0, maxConnections: 10 });
      assert.ok(ipListener.port > 0);
      assert.equal(await resolve(target(ipListener.port), 'svc-1'), null, host);
      void ipListener.close();
    }
  });

  it('closes connections beyond maxConnections as soon as they are accepted, reports each, and takes new ones once one goes', async () => {
    let refused = 0;
    listener = await listenWithLimits(harness.front, { host: '127.0.0.1', port: 0, maxConnections: 2, onConnectionRefused: () => (refused += 1) });
    const [first] = [await open(listener.port), await open(listener.port)];
    await until(async () => (await listener?.connections()) === 2, 'two connections');
    const third = await open(listener.port);
    await new Promise((resolve) => third.once('close', resolve));
    assert.equal(refused, 1);

    first?.destroy();
    await until(async () => (await listener?.connections()) === 1, 'one connection left');
    assert.equal(await resolve(`127.0.0.1:${listener.port}`, 'svc-2'), null);
  });

  it("closes a client's connections beyond maxConnectionsPerClient, while other clients still get in", async () => {
    const refused: string[] = [];
    listener = await listenWithLimits(harness.front, {
      host: '127.0.0.1',
      port: 0,
      maxConnections: 10,
      maxConnectionsPerClient: 2,
      onConnectionRefused: (bound) => refused.push(bound),
    });
    const port = listener.port;
    const [first] = [await open(port, '127.0.0.1'), await open(port, '127.0.0.1')];
    await until(async () => (await listener?.connections()) === 2, 'two connections');
    const third = await open(port, '127.0.0.1');
    await new Promise((resolve) => third.once('close', resolve));
    assert.deepEqual(refused, ['per-client']);

    // Another address (another pod, the kubelet) is not held back by the first.
    const other = await open(port, '127.0.0.2');
    await until(async () => (await listener?.connections()) === 3, 'the other client connected');
    assert.ok(!other.destroyed);

    first?.destroy();
    await until(async () => (await listener?.connections()) === 2, "one of the first client's connections gone");
    const again = await open(port, '127.0.0.1');
    await until(async () => (await listener?.connections()) === 3, 'the first client connected again');
    assert.ok(!again.destroyed);
    assert.deepEqual(refused, ['per-client']);
  });

  it('drains on shutdown: a Resolve in flight (a lean route) is answered, then the server stops ("drained")', async () => {
    listener = await listenWithLimits(harness.front, { host: '127.0.0.1', port: 0, maxConnections: 10 });
    harness.resolver.hold('svc-3');
    const answered = resolve(`127.0.0.1:${listener.port}`, 'svc-3');
    await until(() => harness.resolver.asked.length === 1);
    void listener.close();
    let streamsEnded = false;
    const stopping = shutdownServer(harness.front, 10_000, () => harness.lookaside.endStreams().then(() => void (streamsEnded = true)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(streamsEnded, false, 'endStreams waits for the unary Resolve in flight');
    harness.resolver.waiting.get('svc-3')?.();
    assert.equal(await answered, null);
    assert.equal(await stopping, 'drained');
    await until(() => streamsEnded, 'endStreams done');
    const late = await resolve(`127.0.0.1:${listener.port}`, 'svc-1');
    assert.equal(late?.code, Status.UNAVAILABLE, 'no longer accepting');
  });

  it('names the address when it cannot listen', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await assert.rejects(
        listenWithLimits(harness.front, { host: '127.0.0.1', port, maxConnections: 10 }),
        new RegExp(`^Error: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
    } finally {
      taken.close();
    }
  });
});
