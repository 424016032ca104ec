import assert from 'node:assert/strict';

import { ConfigError } from '../../../src/common/config.js';
import { RoundRobinPicker } from '../../../src/lookaside/balancing/round-robin.js';
import { loadLookasideConfig } from '../../../src/lookaside/config.js';
import { cgroupCpuLimit, containerCpus, MAX_WORKERS } from '../../../src/lookaside/workers/worker-count.js';
import { endpoint } from '../../support/endpoints.js';

const FILE_ENV = { ENDPOINTS_FILE: '/etc/endpoints.yaml' };
const probe = (cpus: number) => ({ fileExists: () => true, homeDirectory: '/nonexistent', cpus: () => cpus });

describe('LB_WORKERS', function () {
  it('defaults to the CPUs the container may use', function () {
    assert.equal(loadLookasideConfig(FILE_ENV, probe(3)).workers, 3);
    assert.equal(loadLookasideConfig(FILE_ENV, probe(500)).workers, MAX_WORKERS);
    assert.equal(loadLookasideConfig({ ...FILE_ENV, LB_WORKERS: '1' }, probe(8)).workers, 1);
  });

  for (const value of ['0', '-1', '1.5', 'many', '65', '100000']) {
    it(`refuses LB_WORKERS="${value}", naming the variable`, function () {
      assert.throws(
        () => loadLookasideConfig({ ...FILE_ENV, LB_WORKERS: value }, probe(2)),
        (error: unknown) => error instanceof ConfigError && error.variable === 'LB_WORKERS' && error.message.includes(`from 1 to ${MAX_WORKERS}, got "${value}"`),
      );
    });
  }

  it('reads the container\'s CPU limit from cgroup v2 cpu.max, rounded up; none when unlimited or unreadable', function () {
    const reading = (text: string) => () => text;
    assert.equal(cgroupCpuLimit(reading('200000 100000\n')), 2);
    assert.equal(cgroupCpuLimit(reading('150000 100000')), 2);
    assert.equal(cgroupCpuLimit(reading('50000 100000')), 1);
    assert.equal(cgroupCpuLimit(reading('max 100000')), undefined);
    assert.equal(cgroupCpuLimit(reading('garbage')), undefined);
    assert.equal(cgroupCpuLimit(() => {
      throw new Error('ENOENT');
    }), undefined);
    assert.equal(containerCpus(reading('100000 100000')), 1, 'a limit of one CPU wins over the machine');
  });

  it('starts each worker\'s round-robin rotation at its own slot, then rotates exactly', function () {
    const endpoints = [1, 2, 3].map((n) => endpoint(n));
    const picks = (startIndex: number): string[] => {
      const picker = new RoundRobinPicker(endpoints, undefined, startIndex);
      return Array.from({ length: 4 }, () => picker.pick().ip);
    };
    assert.deepEqual(picks(0), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1']);
    assert.deepEqual(picks(1), ['10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.2']);
    assert.deepEqual(picks(4), ['10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.2']);
  });
});
