import assert from 'node:assert/strict';

import { Server, ServerCredentials, ServerMetricRecorder } from '@grpc/grpc-js';

import { openGrpcOrcaStream, type OrcaStreamHandlers } from '../../../src/lookaside/load/orca-client.js';
import { ORCA_RETRY_INITIAL_MS, ORCA_UNSUPPORTED_RETRY_MS, OrcaSubscription } from '../../../src/lookaside/load/orca-subscription.js';
import type { LoadReport } from '../../../src/lookaside/load/weights.js';
import { installFakeClock, type FakeClock } from '../../support/fake-clock.js';
import { until } from '../../support/lookaside-server.js';

async function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
}

describe('ORCA out-of-band streams', () => {
  describe('openGrpcOrcaStream, against grpc-js servers', () => {
    const servers: Server[] = [];
    afterEach(() => {
      for (const server of servers.splice(0)) server.forceShutdown();
    });

    it('receives what a ServerMetricRecorder publishes, at the interval asked for', async () => {
      const server = new Server();
      servers.push(server);
      const recorder = new ServerMetricRecorder();
      recorder.addToServer(server);
      recorder.setCpuUtilizationMetric(0.25);
      recorder.setQpsMetric(120);
      recorder.setEpsMetric(3);
      const port = await listen(server);
      const reports: LoadReport[] = [];
      const stream = openGrpcOrcaStream(`127.0.0.1:${port}`, 100, { report: (report) => reports.push(report), end: () => undefined });
      try {
        await until(() => reports.length >= 2, 'two ORCA reports');
        assert.deepEqual(reports[0], { cpuUtilization: 0.25, applicationUtilization: 0, qps: 120, eps: 3 });
      } finally {
        stream.cancel();
      }
    });

    it('ends with UNIMPLEMENTED against a server without the ORCA service', async () => {
      const server = new Server();
      servers.push(server);
      const port = await listen(server);
      const ended = await new Promise<number>((resolve) => {
        openGrpcOrcaStream(`127.0.0.1:${port}`, 100, { report: () => undefined, end: (code) => resolve(code) });
      });
      assert.equal(ended, 12);
    });
  });

  describe('OrcaSubscription', () => {
    let clock: FakeClock;
    beforeEach(() => {
      clock = installFakeClock();
    });
    afterEach(() => clock.restore());

    /** A stream opener the test ends by hand. */
    function opener() {
      const opened: OrcaStreamHandlers[] = [];
      let cancelled = 0;
      return {
        opened,
        cancelled: () => cancelled,
        open: (_address: string, _interval: number, handlers: OrcaStreamHandlers) => {
          opened.push(handlers);
          return { cancel: () => (cancelled += 1) };
        },
      };
    }

    it('reopens a failed stream after a backoff that doubles, and passes reports on', () => {
      const streams = opener();
      const reports: number[] = [];
      let lost = 0;
      const subscription = new OrcaSubscription('10.0.0.1:50051', 1_000, streams.open, {
        onReport: (report) => reports.push(report.qps),
        onLost: () => (lost += 1),
      });
      assert.equal(streams.opened.length, 1);
      streams.opened[0]?.end(14, 'connection refused');
      assert.equal(lost, 1);
      assert.equal(subscription.state, 'retrying');
      // The delay has ±20% jitter around 1 s, then 2 s.
      clock.tick(ORCA_RETRY_INITIAL_MS * 0.8 - 1);
      assert.equal(streams.opened.length, 1);
      clock.tick(ORCA_RETRY_INITIAL_MS * 0.4 + 1);
      assert.equal(streams.opened.length, 2);
      streams.opened[1]?.end(14, 'connection refused');
      clock.tick(1_599);
      assert.equal(streams.opened.length, 2, 'the second wait is about twice the first');
      clock.tick(801);
      assert.equal(streams.opened.length, 3);
      streams.opened[2]?.report({ cpuUtilization: 0.5, applicationUtilization: 0, qps: 42, eps: 0 });
      assert.deepEqual(reports, [42]);
      assert.equal(subscription.state, 'reporting');
      subscription.close();
      assert.equal(streams.cancelled(), 1);
    });

    it('asks an endpoint without ORCA again only after a minute', () => {
      const streams = opener();
      const subscription = new OrcaSubscription('10.0.0.1:50051', 1_000, streams.open, { onReport: () => undefined, onLost: () => undefined });
      streams.opened[0]?.end(12, 'unknown service');
      assert.equal(subscription.state, 'unsupported');
      clock.tick(ORCA_UNSUPPORTED_RETRY_MS - 1);
      assert.equal(streams.opened.length, 1);
      clock.tick(1);
      assert.equal(streams.opened.length, 2);
      subscription.close();
    });

    it('opens nothing more once closed', () => {
      const streams = opener();
      const subscription = new OrcaSubscription('10.0.0.1:50051', 1_000, streams.open, { onReport: () => undefined, onLost: () => undefined });
      streams.opened[0]?.end(14, 'refused');
      subscription.close();
      clock.tick(ORCA_UNSUPPORTED_RETRY_MS);
      assert.equal(streams.opened.length, 1);
    });
  });
});
