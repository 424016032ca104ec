import assert from 'node:assert/strict';

import { ServicePickers } from '../../../src/lookaside/balancing/service-pickers.js';
import { StreamCallLedger, UnaryCallLeases } from '../../../src/lookaside/load/call-ledger.js';
import { LATENCY_HALF_LIFE_MS, type EndpointLoad } from '../../../src/lookaside/load/endpoint-load.js';
import { STALL_CHECK_INTERVAL_MS } from '../../../src/lookaside/load/service-load.js';
import { address, loadFixture, snapshotOf, type LoadFixture } from '../../support/service-load.js';

const OK = 0;
const DEADLINE_EXCEEDED = 4;

/** Three endpoints that have each answered one call in `latencyMs`, at the fixture's time. */
function answered(latencyMs = 1, outlier: { stalledCallsMs?: number } = {}): { fixture: LoadFixture; ledger: StreamCallLedger; endpoints: EndpointLoad[] } {
  const fixture = loadFixture({ outlier });
  fixture.load.sync(snapshotOf(1, 2, 3));
  const ledger = new StreamCallLedger();
  const endpoints = [1, 2, 3].map((n) => fixture.load.endpoint(address(n)) as EndpointLoad);
  for (const n of [1, 2, 3]) report(fixture, ledger, n, OK, latencyMs);
  return { fixture, ledger, endpoints };
}

function report(fixture: LoadFixture, ledger: StreamCallLedger, n: number, code: number, latencyMs: number): void {
  fixture.load.record({ address: address(n), code, latencyMicros: latencyMs * 1000 }, ledger, fixture.clock.nowMs);
}

/** Hands `count` calls to endpoint 1 (index 0). */
function open(ledger: StreamCallLedger, endpoint: EndpointLoad | undefined, count = 2): void {
  for (let i = 0; i < count; i += 1) ledger.handOut(endpoint as EndpointLoad);
}

function ejectedAt(fixture: LoadFixture, afterMs: number): boolean {
  fixture.clock.nowMs += afterMs;
  fixture.load.version(fixture.clock.nowMs);
  return fixture.load.endpoint(address(1))?.health.ejectedUntilMs !== undefined;
}

describe('stalled endpoints (calls open, none answered)', () => {
  describe('EndpointLoad', () => {
    it('counts a stall from its last answer while calls are open, and from the first call opened after none', () => {
      const { fixture, ledger, endpoints } = answered();
      const [one] = endpoints as [EndpointLoad];
      fixture.clock.nowMs += 1_000;
      assert.equal(one.stalledMs(fixture.clock.nowMs), 0, 'no call open: not stalled, however long since the last answer');
      ledger.handOut(one);
      fixture.clock.nowMs += 30;
      ledger.handOut(one);
      fixture.clock.nowMs += 20;
      assert.equal(one.stalledMs(fixture.clock.nowMs), 50, 'from the first call opened');
      report(fixture, ledger, 1, DEADLINE_EXCEEDED, 50);
      fixture.clock.nowMs += 10;
      assert.equal(one.stalledMs(fixture.clock.nowMs), 60, 'a failure answers nothing');
      report(fixture, ledger, 1, OK, 60);
      assert.equal(one.stalledMs(fixture.clock.nowMs), 0, 'answered: nothing open');
    });

    it('expects its average latency, halving every LATENCY_HALF_LIFE_MS without a report, or its stall when longer', () => {
      const { fixture, ledger, endpoints } = answered(8);
      const [one] = endpoints as [EndpointLoad];
      assert.equal(one.expectedLatencyMicros(fixture.clock.nowMs), 8_000);
      assert.equal(one.expectedLatencyMicros(fixture.clock.nowMs + LATENCY_HALF_LIFE_MS), 4_000);
      assert.equal(one.expectedLatencyMicros(fixture.clock.nowMs + 2 * LATENCY_HALF_LIFE_MS), 2_000);
      ledger.handOut(one);
      assert.equal(one.expectedLatencyMicros(fixture.clock.nowMs + 5), 8_000 * 2 ** (-5 / LATENCY_HALF_LIFE_MS));
      assert.equal(one.expectedLatencyMicros(fixture.clock.nowMs + 30), 30_000, 'stalled 30 ms: slower than its 8 ms');
    });

    it('leaves out of its average the calls reported while it was ejected (in flight when it went)', () => {
      const { fixture, ledger } = answered(2, { stalledCallsMs: 0 });
      for (let i = 0; i < 5; i += 1) report(fixture, ledger, 1, DEADLINE_EXCEEDED, 2);
      assert.ok(fixture.load.endpoint(address(1))?.health.ejectedUntilMs !== undefined, 'ejected: 5 failures in a row');
      report(fixture, ledger, 1, DEADLINE_EXCEEDED, 2_000);
      assert.equal(fixture.load.endpoint(address(1))?.latencyMicros, 2_000);
    });
  });

  describe('ServiceLoad.openCalls', () => {
    it('counts the calls open on all its endpoints, through either ledger, those of an endpoint that left included', () => {
      const { fixture, ledger, endpoints } = answered(1);
      const [one, two] = endpoints as [EndpointLoad, EndpointLoad];
      const leases = new UnaryCallLeases(1_000, () => fixture.clock.nowMs);
      assert.equal(fixture.load.openCalls, 0);
      open(ledger, one, 2);
      leases.handOut(two);
      assert.equal(fixture.load.openCalls, 3);
      fixture.load.sync(snapshotOf(2, 3));
      assert.equal(fixture.load.openCalls, 3, 'endpoint 1 left; its two calls are still held');
      ledger.release();
      assert.equal(fixture.load.openCalls, 1);
      leases.expire(fixture.clock.nowMs + 2_000);
      assert.equal(fixture.load.openCalls, 0);
    });

    it('finds a stall among calls opened after a time with none open', () => {
      const { fixture, ledger, endpoints } = answered(1);
      assert.equal(ejectedAt(fixture, 10_000), false, 'nothing open');
      open(ledger, endpoints[0]);
      assert.equal(ejectedAt(fixture, 600), true);
    });
  });

  describe('ejection', () => {
    it('ejects an endpoint whose calls stay unanswered for OUTLIER_STALLED_CALLS_MS, before any of them times out', () => {
      const { fixture, ledger, endpoints } = answered(1);
      open(ledger, endpoints[0]);
      assert.equal(ejectedAt(fixture, 499), false);
      assert.equal(ejectedAt(fixture, STALL_CHECK_INTERVAL_MS), true, 'found at the next check');
      assert.deepEqual(fixture.ejections, ['default/greet']);
    });

    it('waits ten times the endpoint’s average latency when that is longer', () => {
      const { fixture, ledger, endpoints } = answered(200);
      open(ledger, endpoints[0]);
      assert.equal(ejectedAt(fixture, 1_999), false, '10 × 200 ms');
      assert.equal(ejectedAt(fixture, STALL_CHECK_INTERVAL_MS), true);
    });

    it('does not eject an endpoint whose calls keep being answered, one with no call open, nor one never answered', () => {
      const { fixture, ledger, endpoints } = answered(1);
      ledger.handOut(endpoints[0] as EndpointLoad);
      ledger.handOut(endpoints[0] as EndpointLoad);
      fixture.clock.nowMs += 400;
      report(fixture, ledger, 1, OK, 400);
      assert.equal(ejectedAt(fixture, 400), false, 'answered 400 ms ago, one call still open');
      report(fixture, ledger, 1, OK, 800);
      assert.equal(ejectedAt(fixture, 10_000), false, 'nothing open');
      const fresh = loadFixture();
      fresh.load.sync(snapshotOf(1, 2, 3));
      open(new StreamCallLedger(), fresh.load.endpoint(address(1)));
      assert.equal(ejectedAt(fresh, 60_000), false, 'no latency known: a call may take that long');
    });

    it('does not eject for one unanswered call: a client that paused before reporting it looks the same', () => {
      const { fixture, ledger, endpoints } = answered(1);
      open(ledger, endpoints[0], 1);
      assert.equal(ejectedAt(fixture, 60_000), false);
      open(ledger, endpoints[0], 1);
      assert.equal(ejectedAt(fixture, STALL_CHECK_INTERVAL_MS), true, 'two calls open, and none answered for a minute');
    });

    it('does not eject while another endpoint is as silent (clients that went quiet, not one pod that froze)', () => {
      const { fixture, ledger, endpoints } = answered(1);
      open(ledger, endpoints[0]);
      open(ledger, endpoints[1]);
      assert.equal(ejectedAt(fixture, 5_000), false);
      assert.equal(fixture.load.ejected, 0);
      report(fixture, ledger, 2, OK, 5_000);
      assert.equal(ejectedAt(fixture, STALL_CHECK_INTERVAL_MS), true, 'the other one answered: the silence is its own');
    });

    it('is off with OUTLIER_STALLED_CALLS_MS=0', () => {
      const { fixture, ledger, endpoints } = answered(1, { stalledCallsMs: 0 });
      open(ledger, endpoints[0]);
      assert.equal(ejectedAt(fixture, 60_000), false);
    });

    it('takes the stalled endpoint out of the pickers at the next Resolve', () => {
      const { fixture, ledger, endpoints } = answered(1);
      const pickers = new ServicePickers(snapshotOf(1, 2, 3), undefined, Math.random, fixture.load);
      open(ledger, endpoints[0]);
      fixture.clock.nowMs += 600;
      const picked = new Set(Array.from({ length: 6 }, () => pickers.pickerFor('grpc', 'round_robin')?.pick().address));
      assert.deepEqual([...picked].sort(), [address(2), address(3)]);
    });
  });
});
