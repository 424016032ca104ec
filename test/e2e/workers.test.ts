import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';

import { Client, credentials, status as Status, type StatusObject } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';

import { TestCertificates } from '../support/certificates.js';
import { ResolveConnections, type UnaryAnswer } from '../support/resolve-connections.js';
import { eventually } from '../support/process.js';
import { ProcessGroup, tally, type FileService, type RunningLookaside } from './support/lookaside.js';

const WORKERS = 2;
/** Seven endpoints: an uneven share between the workers' rotations shows as an exact count, not noise. */
const SPREAD: FileService = {
  namespace: 'default',
  name: 'spread',
  endpoints: Array.from({ length: 7 }, (_, index) => ({ address: `10.9.0.${index + 1}:50051`, pod: `spread-${index}` })),
};
const GREET: FileService = { namespace: 'default', name: 'greet', endpoints: [{ address: '10.8.0.1:50051' }, { address: '10.8.0.2:50051' }] };
const EMPTY: FileService = { namespace: 'default', name: 'empty', endpoints: [] };
const SERVICES = [SPREAD, GREET, EMPTY];

interface SlotView {
  readonly worker: number;
  readonly pid: number;
  readonly listening: boolean;
  readonly restarts: number;
}

async function slots(lookaside: RunningLookaside): Promise<SlotView[]> {
  const response = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/debug/workers`);
  return ((await response.json()) as { workers: SlotView[] }).workers;
}

/** Calls answered OK per worker for one Service, from the aggregated /metrics. */
async function okCallsPerWorker(lookaside: RunningLookaside, service: string): Promise<Map<string, number>> {
  const page = await lookaside.scrape();
  const counts = new Map<string, number>();
  for (const sample of page.find('lookaside_resolve_total', { service, code: 'OK' })) counts.set(sample.labels['worker'] ?? '', sample.value);
  return counts;
}

/** What each endpoint gets when worker `slot` hands out `calls` in exact rotation starting at endpoint `slot`. */
function exactRotation(calls: number, slot: number, endpoints: number): number[] {
  return Array.from({ length: endpoints }, (_, index) => {
    const turn = (index - slot + endpoints) % endpoints;
    return Math.floor(calls / endpoints) + (turn < calls % endpoints ? 1 : 0);
  });
}

function addresses(answers: readonly UnaryAnswer[]): string[] {
  return answers.map((answer) => {
    if (!answer.ok) throw new Error(`Resolve failed: ${answer.code} ${answer.message}`);
    return answer.address;
  });
}

describe('lookaside end to end: LB_WORKERS', function () {
  this.timeout(120_000);
  const group = new ProcessGroup();
  let lookaside: RunningLookaside;
  let connections: ResolveConnections;

  before(async function () {
    lookaside = await group.start({ services: SERVICES, env: { LB_WORKERS: String(WORKERS) } });
    connections = new ResolveConnections(lookaside.target, 12);
  });

  after(async function () {
    connections.close();
    await group.stopAll();
  });

  it('spreads 30,000 round-robin Resolves evenly over every endpoint, each worker rotating exactly from its own start', async function () {
    const counts = tally(addresses(await connections.resolveMany(30_000, { service: 'spread', namespace: 'default' })));
    const shares = SPREAD.endpoints.map((endpoint) => counts.get(endpoint.address) ?? 0);
    assert.ok(Math.max(...shares) / Math.min(...shares) <= 1.01, `shares ${shares.join(', ')}`);

    const perWorker = await okCallsPerWorker(lookaside, 'spread');
    assert.deepEqual([...perWorker.keys()].sort(), ['0', '1'], 'both workers answered');
    const expected = new Array<number>(SPREAD.endpoints.length).fill(0);
    for (const [worker, calls] of perWorker) exactRotation(calls, Number(worker), expected.length).forEach((share, index) => (expected[index] = (expected[index] ?? 0) + share));
    assert.deepEqual(shares, expected, `per worker ${JSON.stringify([...perWorker])}`);
  });

  it('answers unknown and empty Services and refused namespaces with the single process\'s codes and messages', async function () {
    const single = await group.start({ services: SERVICES, env: { LB_WORKERS: '1', ALLOWED_NAMESPACES: 'default' } });
    const clustered = await group.start({ services: SERVICES, env: { LB_WORKERS: String(WORKERS), ALLOWED_NAMESPACES: 'default' } });
    const requests = [
      { service: 'nope', namespace: 'default' },
      { service: 'empty', namespace: 'default' },
      { service: 'greet', namespace: 'elsewhere' },
      { service: 'Not_A_Name', namespace: 'default' },
      { service: 'greet', namespace: 'default', port_name: 'http' },
    ];
    const ask = async (target: RunningLookaside): Promise<UnaryAnswer[]> => {
      // Both workers, twice each: the second answer of a missing name comes from the negative cache.
      const many = new ResolveConnections(target.target, 4);
      try {
        return await Promise.all(requests.flatMap((request) => [0, 1, 2, 3].map((index) => many.resolve(index, request))));
      } finally {
        many.close();
      }
    };
    // Each process has its own temporary endpoints file.
    const withoutDirectory = (answers: UnaryAnswer[], target: RunningLookaside): string => JSON.stringify(answers).replaceAll(target.directory, '<dir>');
    const fromSingle = await ask(single);
    assert.ok(fromSingle.every((answer) => !answer.ok), JSON.stringify(fromSingle));
    assert.equal(withoutDirectory(await ask(clustered), clustered), withoutDirectory(fromSingle, single));
  });

  it('MAX_SERVICES refuses a Service past the bound with RESOURCE_EXHAUSTED in each worker, as one process does', async function () {
    const clustered = await group.start({ services: SERVICES, env: { LB_WORKERS: String(WORKERS), MAX_SERVICES: '1' } });
    const many = new ResolveConnections(clustered.target, 4);
    try {
      addresses(await Promise.all([0, 1, 2, 3].map((index) => many.resolve(index, { service: 'greet', namespace: 'default' }))));
      const refused = await Promise.all([0, 1, 2, 3].map((index) => many.resolve(index, { service: 'spread', namespace: 'default' })));
      for (const answer of refused) {
        assert.ok(!answer.ok && answer.code === 8 && answer.message.includes('MAX_SERVICES'), JSON.stringify(answer));
      }
    } finally {
      many.close();
    }
  });

  it('brings a Service added to the file, and its removal, to every worker', async function () {
    const fresh: FileService = { namespace: 'default', name: 'fresh', endpoints: [{ address: '10.7.0.1:50051' }] };
    await lookaside.replaceEndpoints([...SERVICES, fresh]);
    const everyConnection = (request: Record<string, unknown>): Promise<UnaryAnswer[]> =>
      Promise.all(Array.from({ length: connections.size }, (_, index) => connections.resolve(index, request)));
    await eventually(async () => ((await everyConnection({ service: 'fresh', namespace: 'default' })).every((answer) => answer.ok) ? true : undefined), 10_000, 'fresh on every worker');
    assert.deepEqual([...(await okCallsPerWorker(lookaside, 'fresh')).keys()].sort(), ['0', '1']);

    await lookaside.replaceEndpoints(SERVICES);
    const gone = await eventually(async () => {
      const answers = await everyConnection({ service: 'fresh', namespace: 'default' });
      return answers.every((answer) => !answer.ok && answer.code === 5) ? answers : undefined;
    }, 10_000, 'fresh gone from every worker');
    assert.equal(gone.length, connections.size);
  });

  it('ejects an endpoint in every worker when the clients of one report it failing', async function () {
    const request = { service: 'greet', namespace: 'default' };
    // Both workers watch greet (reports for a Service a worker does not watch are dropped).
    addresses(await Promise.all(Array.from({ length: connections.size }, (_, index) => connections.resolve(index, request))));
    const failing = GREET.endpoints[0]?.address ?? '';
    const failures = Array.from({ length: 5 }, () => ({ address: failing, code: 14, latency_micros: 1_000 }));
    // One connection: one worker hears of the failures.
    const reported = await connections.resolve(0, { ...request, report_only: true, finished_calls: failures });
    assert.ok(reported.ok, JSON.stringify(reported));
    const views = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/debug/endpoints?service=greet&namespace=default`);
      const page = (await response.json()) as { workers: { worker: number; ejected_endpoints: number; endpoints: { address: string; ejected: boolean }[] }[] };
      return page.workers.length === WORKERS && page.workers.every((view) => view.ejected_endpoints === 1) ? page.workers : undefined;
    }, 10_000, 'the endpoint ejected in both workers');
    for (const view of views) assert.deepEqual(view.endpoints.filter((endpoint) => endpoint.ejected).map((endpoint) => endpoint.address), [failing]);
    const answers = addresses(await connections.resolveMany(40, request));
    assert.ok(!answers.includes(failing), 'no worker hands out the ejected endpoint');
  });

  it('starts a killed worker again; new connections are served by the live workers meanwhile', async function () {
    const before = await slots(lookaside);
    const victim = before.find((slot) => slot.worker === 0);
    assert.ok(victim?.listening === true, JSON.stringify(before));
    const logsBefore = lookaside.process.logs.length;
    process.kill(victim.pid, 'SIGKILL');
    // A connection node:cluster hands to the worker in the instant it dies waits for the client's
    // connect timeout (README); from the primary's noticing on, none goes to it.
    await lookaside.waitForLogAfter(logsBefore, (line) => line.msg === 'worker exited; starting it again' && line['worker'] === 0);
    const answers: UnaryAnswer[] = [];
    const restarted = await eventually(async () => {
      // A new connection each time, while worker 0 is down and once it is back.
      const fresh = new ResolveConnections(lookaside.target, 1);
      answers.push(await fresh.resolve(0, { service: 'greet', namespace: 'default' }));
      fresh.close();
      const slot = (await slots(lookaside)).find((candidate) => candidate.worker === 0);
      return slot !== undefined && slot.pid !== victim.pid && slot.listening ? slot : undefined;
    }, 20_000, 'worker 0 started again');
    assert.equal(restarted.restarts, 1);
    addresses(answers);
    const page = await lookaside.scrape();
    assert.equal(page.value('lookaside_worker_restarts_total', { worker: '0' }), 1);
    assert.equal(page.value('lookaside_workers_listening'), WORKERS);
    const after = new ResolveConnections(lookaside.target, 4);
    try {
      addresses(await after.resolveMany(200, { service: 'greet', namespace: 'default' }));
      assert.deepEqual([...(await okCallsPerWorker(lookaside, 'greet')).keys()].sort(), ['0', '1'], 'the new worker 0 answers too');
    } finally {
      after.close();
    }
  });

  it('on SIGTERM drains every worker: open streams end UNAVAILABLE "shutting down", each worker stops, the primary exits 0', async function () {
    const draining = await group.start({ services: SERVICES, env: { LB_WORKERS: String(WORKERS), SHUTDOWN_GRACE_SECONDS: '20' } });
    const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['ResolveStream'];
    if (method === undefined) throw new Error('no ResolveStream');
    // Four connections: node:cluster hands them to the workers in turn, so each worker holds streams.
    const clients = Array.from({ length: 4 }, () => new Client(draining.target, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    try {
      const endings = await Promise.all(
        clients.map(async (client) => {
          const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
          let answered = false;
          call.on('data', () => (answered = true));
          call.on('error', () => undefined);
          const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
          call.write({ service: 'greet', namespace: 'default' });
          await eventually(() => (answered ? true : undefined), 5_000, 'the first answer');
          // Wrapped: an async function returning the promise itself would wait for the stream to end.
          return { ended };
        }),
      );
      const startedAt = Date.now();
      assert.equal(await draining.stop(), 0);
      assert.ok(Date.now() - startedAt < 15_000, 'the streams did not hold the workers for the grace period');
      for (const ended of await Promise.all(endings.map((ending) => ending.ended))) assert.deepEqual([ended.code, ended.details], [Status.UNAVAILABLE, 'shutting down']);
      const stopped = draining.process.logs.filter((line) => line.msg === 'grpc server stopped');
      assert.deepEqual(stopped.map((line) => [line['worker'], line['result']]).sort(), [[0, 'drained'], [1, 'drained']]);
      assert.ok(draining.process.logs.some((line) => line.msg === 'every worker stopped'));
    } finally {
      for (const client of clients) client.close();
    }
  });

  it('serves TLS from every worker, each reading the certificate files itself; a bad pair stops start-up as in one process', async function () {
    const certificates = await TestCertificates.create();
    try {
      const ca = await certificates.ca('server-ca');
      const server = await certificates.issue(ca, 'lookaside', 'server');
      const other = await certificates.issue(ca, 'other', 'server');
      const mismatched = group.startRaw({ LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', ENDPOINTS_FILE: lookaside.endpointsFile, LB_WORKERS: String(WORKERS), TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: other.keyFile });
      assert.equal(await mismatched.waitForExit(), 1, mismatched.stderr);
      assert.match(mismatched.stderr, /^start-up failed: TLS_KEY_FILE: the key in .*other\.key does not match the certificate in TLS_CERT_FILE/, 'the primary says so');
      assert.equal(mismatched.stderr.match(/start-up failed/g)?.length, 1, `before any worker starts: ${mismatched.stderr}`);

      const secure = await group.start({ services: SERVICES, env: { LB_WORKERS: String(WORKERS), TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile } });
      const tls = new ResolveConnections(secure.target, 4, credentials.createSsl(await readFile(ca.certFile)));
      try {
        addresses(await tls.resolveMany(40, { service: 'greet', namespace: 'default' }, 1));
        assert.deepEqual([...(await okCallsPerWorker(secure, 'greet')).keys()].sort(), ['0', '1'], 'both workers answered over TLS');
      } finally {
        tls.close();
      }
    } finally {
      await certificates.remove();
    }
  });

  it('refuses LB_WORKERS values that are not a worker count, naming the variable', async function () {
    for (const value of ['0', '-2', '1.5', 'two', '100000']) {
      const started = group.startRaw({ LB_HOST: '127.0.0.1', LB_PORT: '0', METRICS_PORT: '0', ENDPOINTS_FILE: lookaside.endpointsFile, LB_WORKERS: value });
      assert.equal(await started.waitForExit(), 1, started.stderr);
      assert.match(started.stderr, new RegExp(`LB_WORKERS: must be a whole number from 1 to 64, got "${value}"`));
    }
  });
});
