import assert from 'node:assert/strict';

import { status as Status, type Client, type Server } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../../src/common/grpc-metrics.js';
import { bindServer } from '../../../src/common/grpc.js';
import { silentLogger } from '../../../src/common/logging.js';
import { callGreet, openGreetChannel } from '../../../src/greet/gateway/greet-client.js';
import { LoadSampler } from '../../../src/greet/server/load-report.js';
import { createGreetServer, type GreetServer, type GreetServerOptions } from '../../../src/greet/server/server.js';
import { openGrpcOrcaStream } from '../../../src/lookaside/load/orca-client.js';
import type { LoadReport } from '../../../src/lookaside/load/weights.js';
import { until } from '../../support/lookaside-server.js';

const REQUEST = { first_name: 'Ada', last_name: 'Lovelace' };
const NO_KEEPALIVE = { timeMs: 0, timeoutMs: 1_000 };

describe('LoadSampler: the greet server’s load as ORCA reports it', () => {
  it('reports CPU time over wall time, and calls and errors per second, over the last interval', () => {
    const published: Record<string, number> = {};
    const clock = { ms: 0, cpuMicros: 0 };
    const sampler = new LoadSampler({
      recorder: {
        setCpuUtilizationMetric: (value) => (published['cpu'] = value),
        setQpsMetric: (value) => (published['qps'] = value),
        setEpsMetric: (value) => (published['eps'] = value),
      },
      now: () => clock.ms,
      cpuMicros: () => clock.cpuMicros,
    });
    for (let i = 0; i < 30; i += 1) sampler.callEnded(i % 10 === 0);
    clock.ms = 2_000;
    clock.cpuMicros = 500_000;
    sampler.sample();
    assert.deepEqual(published, { cpu: 0.25, qps: 15, eps: 1.5 });
    clock.ms = 3_000;
    clock.cpuMicros = 1_400_000;
    sampler.sample();
    assert.deepEqual(published, { cpu: 0.9, qps: 0, eps: 0 }, 'each interval on its own');
  });
});

describe('greet server fault knobs and ORCA (in process)', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  async function start(options: Partial<GreetServerOptions>): Promise<{ greet: GreetServer; channel: Client; port: number }> {
    const greet = createGreetServer({
      podName: 'greet-0',
      podIp: '127.0.0.1',
      delayMs: 0,
      grpcMetrics: new GrpcServerMetrics(new Registry()),
      logger: silentLogger(),
      ...options,
    });
    const port = await bindServer(greet.server, '127.0.0.1', 0);
    const channel = openGreetChannel(`127.0.0.1:${port}`, NO_KEEPALIVE);
    cleanup.push(() => (greet.server as Server).forceShutdown(), () => channel.close());
    return { greet, channel, port };
  }

  it('answers the share GREET_FAIL_RATE of calls UNAVAILABLE, as the random source decides', async () => {
    const draws = [0.1, 0.5, 0.29, 0.3, 0.99];
    const { channel } = await start({ failRate: 0.3, random: () => draws.shift() ?? 1 });
    const codes = [];
    for (let i = 0; i < 5; i += 1) {
      const result = await callGreet(channel, REQUEST, 5_000);
      codes.push(result.ok ? 'OK' : Status[result.code]);
    }
    assert.deepEqual(codes, ['UNAVAILABLE', 'OK', 'UNAVAILABLE', 'OK', 'OK']);
  });

  it('burns GREET_CPU_MS of CPU per call, and its ORCA stream reports the CPU, the calls and the errors', async () => {
    let draws = 0;
    const everyOther = (): number => (draws++ % 2 === 0 ? 0 : 0.9);
    const { greet, channel, port } = await start({ cpuMs: 40, failRate: 0.5, random: everyOther });
    const cpuBefore = process.cpuUsage();
    const startedMs = performance.now();
    for (let i = 0; i < 10; i += 1) await callGreet(channel, REQUEST, 5_000);
    const used = process.cpuUsage(cpuBefore);
    const cpuMs = (used.user + used.system) / 1000;
    // Half the calls fail at once; the five that succeed burn 40 ms each in this process.
    assert.ok(cpuMs >= 5 * 40, `${cpuMs} ms of CPU for 5 × 40 ms`);
    greet.load.sample();
    const elapsedS = (performance.now() - startedMs) / 1000;
    const reports: LoadReport[] = [];
    const stream = openGrpcOrcaStream(`127.0.0.1:${port}`, 100, { report: (report) => reports.push(report), end: () => undefined });
    cleanup.push(() => stream.cancel());
    await until(() => reports.length > 0, 'an ORCA report');
    const report = reports[0] as LoadReport;
    assert.ok(report.cpuUtilization > 0, JSON.stringify(report));
    // 10 calls and 5 errors over the interval since the server started (at least as long as the calls took).
    assert.ok(report.qps > 0 && report.qps <= 10 / elapsedS + 1e-9, JSON.stringify(report));
    assert.equal(report.eps * 2, report.qps, 'half of the calls were errors');
  });
});
