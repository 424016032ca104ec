import assert from 'node:assert/strict';

import { FULL_RETRY_MS } from '../../src/lookaside/xds/xds-feeds.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { until } from '../support/lookaside-server.js';
import { XdsHarness, type XdsHarnessOptions } from '../support/xds-harness.js';

const LISTENER = 'greet.default:50051';
const CLUSTER = 'greet.default.svc.cluster.local:50051';
const GREET = 'default/greet';
const IDLE_MS = 60_000;

function ready(...numbers: number[]) {
  return [slice(numbers.map((n) => sliceEndpoint(n)))];
}

describe('ADS server: subscriptions share the Resolve cache', function () {
  this.timeout(30_000);
  let h: XdsHarness | undefined;

  async function start(options: XdsHarnessOptions = {}): Promise<XdsHarness> {
    h = await XdsHarness.start({ ...options, services: { idleTimeoutMs: IDLE_MS, ...options.services } });
    return h;
  }

  afterEach(() => h?.stop());

  it('sends no Listener while its Service is still being looked up, and answers once the list has synced', async () => {
    const x = await start();
    x.source.answer = undefined;
    const client = x.client();
    client.request('listener', [LISTENER]);
    await until(() => x.source.followed.has(GREET), 'the lookup');
    x.source.publish(GREET, { kind: 'pending' });
    await x.flush();
    assert.equal(client.responses.length, 0);
    assert.equal(x.xds.report().streams[0]?.types.listener?.names[0]?.state, 'unknown');

    x.source.publishSlices(GREET, ready(1));
    const response = await x.pushed(client, 'listener');
    assert.deepEqual([...response.resources.keys()], [LISTENER]);
  });

  it('serves a Service created after it was subscribed to, once NEGATIVE_CACHE_SECONDS are over', async () => {
    const x = await start({ services: { missingTtlMs: 5_000 } });
    const client = x.client();
    client.request('listener', ['late.default:50051']);
    const first = await x.pushed(client, 'listener');
    assert.equal(first.resources.size, 0, 'left out while it does not exist');
    client.ack(first, ['late.default:50051']);

    x.publish('default/late', ready(4));
    x.timers.advance(4_000);
    await x.flush(3);
    assert.equal(client.received('listener').length, 1, 'not before NEGATIVE_CACHE_SECONDS are over');
    const second = await x.pushed(client, 'listener', 1);
    assert.deepEqual([...second.resources.keys()], ['late.default:50051']);
  });

  it('keeps a subscribed Service watched past IDLE_TIMEOUT and still pushes its changes', async () => {
    const x = await start();
    x.publish(GREET, ready(1));
    const client = x.client();
    client.request('endpoint', [CLUSTER]);
    client.ack(await x.pushed(client, 'endpoint'));
    x.timers.advance(10 * IDLE_MS);
    x.stack.services.sweepIdle();
    assert.ok(x.source.followed.has(GREET), 'still watched');
    x.publish(GREET, ready(2));
    await x.pushed(client, 'endpoint', 1);
  });

  it('shares one watch between Resolve and every subscriber, and looks a missing name up once for all', async () => {
    const x = await start();
    x.publish(GREET, ready(1));
    const resolved = await x.stack.resolver.resolve({ service: 'greet', namespace: 'default', policy: undefined, portName: '' });
    assert.ok(resolved.ok);
    const clients = ['a', 'b', 'c'].map((id) => x.client(id));
    for (const client of clients) client.request('listener', [LISTENER, 'ghost.default:50051']);
    for (const client of clients) await x.pushed(client, 'listener', 0);
    assert.equal(x.source.followCount.get(GREET), 1);
    assert.equal(x.source.followCount.get('default/ghost'), 1);
    assert.equal(x.stack.services.size, 1, 'the missing name takes no MAX_SERVICES slot');
  });

  it('serves a name MAX_SERVICES kept out as absent, and serves it once a slot is free', async () => {
    const x = await start({ services: { maxServices: 1 } });
    x.publish(GREET, ready(1));
    x.publish('default/other', ready(2));
    const holder = x.client('holder');
    holder.request('listener', [LISTENER]);
    await x.pushed(holder, 'listener');
    const waiter = x.client('waiter');
    waiter.request('listener', ['other.default:50051']);
    const refused = await x.pushed(waiter, 'listener');
    assert.equal(refused.resources.size, 0);
    assert.match(x.xds.report().streams.find((s) => s.node?.['id'] === 'waiter')?.types.listener?.names[0]?.problem ?? '', /MAX_SERVICES/);
    waiter.ack(refused, ['other.default:50051']);

    holder.close();
    await until(() => x.xds.size === 1, 'the holder gone');
    x.timers.advance(IDLE_MS + 1);
    x.stack.services.sweepIdle();
    x.timers.advance(FULL_RETRY_MS);
    const served = await x.pushed(waiter, 'listener', 1);
    assert.deepEqual([...served.resources.keys()], ['other.default:50051']);
  });

  it('serves nothing outside ALLOWED_NAMESPACES, without looking it up', async () => {
    const x = await start({ allowedNamespaces: ['prod'] });
    x.publish(GREET, ready(1));
    const client = x.client();
    client.request('listener', [LISTENER]);
    const response = await x.pushed(client, 'listener');
    assert.equal(response.resources.size, 0);
    assert.equal(x.source.followCount.size, 0);
    assert.match(x.xds.report().streams[0]?.types.listener?.names[0]?.problem ?? '', /ALLOWED_NAMESPACES/);
  });

  it('sends an empty assignment when no endpoint is ready (the Listener stays), and drops the Listener when the Service goes', async () => {
    const x = await start();
    x.publish(GREET, ready(1));
    const client = x.client();
    client.request('listener', [LISTENER]);
    client.request('endpoint', [CLUSTER]);
    const listeners = await x.pushed(client, 'listener');
    const endpoints = await x.pushedMatching(client, 'endpoint', (response) => response.resources.size === 1);
    client.ack(listeners);
    client.ack(endpoints);

    x.publish(GREET, [slice([], [])]);
    const empty = await x.pushed(client, 'endpoint', client.received('endpoint').length);
    assert.deepEqual(empty.resources.get(CLUSTER), { cluster_name: CLUSTER });
    await x.flush();
    assert.equal(client.received('listener').length, 1, 'scaled to zero, the Listener is unchanged');

    x.publish(GREET, []);
    const gone = await x.pushed(client, 'listener', 1);
    assert.equal(gone.resources.size, 0);
  });
});
