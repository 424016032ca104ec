import assert from 'node:assert/strict';

import { ConfigError } from '../../src/common/config.js';
import { loadLookasideConfig, type ConfigProbe } from '../../src/lookaside/config.js';

const NO_FILES: ConfigProbe = { fileExists: () => false, homeDirectory: '/home/nobody' };
const withFiles = (...paths: string[]): ConfigProbe => ({
  fileExists: (path) => paths.includes(path),
  homeDirectory: '/home/someone',
});
const FILE_ENV = { ENDPOINTS_FILE: '/etc/endpoints.yaml' };
const FILE_PROBE = withFiles('/etc/endpoints.yaml');

function configError(env: Record<string, string>, probe: ConfigProbe = FILE_PROBE): ConfigError {
  try {
    loadLookasideConfig(env, probe);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('lookaside config', () => {
  it('has the documented defaults', () => {
    const config = loadLookasideConfig(FILE_ENV, FILE_PROBE);
    assert.equal(config.port, 50055);
    assert.equal(config.metricsPort, 9095);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.ownNamespace, 'default');
    assert.equal(config.defaultPolicy, 'round_robin');
    assert.equal(config.refreshIntervalMs, 60_000);
    assert.equal(config.watchSilenceLimitMs, 90_000);
    assert.equal(config.idleTimeoutMs, 600_000);
    assert.equal(config.maxServices, 1000);
    assert.equal(config.negativeCacheMs, 5_000);
    assert.equal(config.lookupsPerSecond, 20);
    assert.deepEqual(config.allowedNamespaces, []);
    assert.deepEqual(config.discovery, { kind: 'file', path: '/etc/endpoints.yaml' });
  });

  it('reads every variable', () => {
    const config = loadLookasideConfig(
      {
        ...FILE_ENV,
        LB_PORT: '6000',
        METRICS_PORT: '0',
        LOG_LEVEL: 'DEBUG',
        POD_NAMESPACE: 'apps',
        DEFAULT_POLICY: 'RANDOM',
        REFRESH_INTERVAL_SECONDS: '5',
        WATCH_SILENCE_SECONDS: '20',
        IDLE_TIMEOUT_SECONDS: '30',
        MAX_SERVICES: '2',
        NEGATIVE_CACHE_SECONDS: '0',
        LOOKUPS_PER_SECOND: '3',
        ALLOWED_NAMESPACES: 'apps, web ,',
      },
      FILE_PROBE,
    );
    assert.equal(config.port, 6000);
    assert.equal(config.metricsPort, 0);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.ownNamespace, 'apps');
    assert.equal(config.defaultPolicy, 'random');
    assert.equal(config.refreshIntervalMs, 5_000);
    assert.equal(config.watchSilenceLimitMs, 20_000);
    assert.equal(config.idleTimeoutMs, 30_000);
    assert.equal(config.maxServices, 2);
    assert.equal(config.negativeCacheMs, 0);
    assert.equal(config.lookupsPerSecond, 3);
    assert.deepEqual(config.allowedNamespaces, ['apps', 'web']);
  });

  it('reads the server limits, documented defaults first', () => {
    assert.deepEqual(loadLookasideConfig(FILE_ENV, FILE_PROBE).limits, {
      maxConnections: 1000,
      maxConnectionsPerClient: 100,
      maxStreamsPerConnection: 100,
      maxOpenCalls: 2000,
      maxResolveStreams: 1000,
      resolveStreamIdleMs: 300_000,
    });
    const env = {
      ...FILE_ENV,
      MAX_CONNECTIONS: '10',
      MAX_CONNECTIONS_PER_CLIENT: '5',
      MAX_STREAMS_PER_CONNECTION: '20',
      MAX_OPEN_CALLS: '30',
      MAX_RESOLVE_STREAMS: '40',
      RESOLVE_STREAM_IDLE_SECONDS: '50',
    };
    assert.deepEqual(loadLookasideConfig(env, FILE_PROBE).limits, {
      maxConnections: 10,
      maxConnectionsPerClient: 5,
      maxStreamsPerConnection: 20,
      maxOpenCalls: 30,
      maxResolveStreams: 40,
      resolveStreamIdleMs: 50_000,
    });
    assert.match(configError({ ...FILE_ENV, MAX_CONNECTIONS: '0' }).message, /^MAX_CONNECTIONS: must be a whole number from 1/);
    assert.match(configError({ ...FILE_ENV, MAX_STREAMS_PER_CONNECTION: 'many' }).message, /^MAX_STREAMS_PER_CONNECTION:/);
    assert.match(configError({ ...FILE_ENV, MAX_OPEN_CALLS: '-5' }).message, /^MAX_OPEN_CALLS:/);
    assert.match(configError({ ...FILE_ENV, MAX_RESOLVE_STREAMS: '1.5' }).message, /^MAX_RESOLVE_STREAMS:/);
    assert.match(configError({ ...FILE_ENV, RESOLVE_STREAM_IDLE_SECONDS: '0' }).message, /^RESOLVE_STREAM_IDLE_SECONDS:/);
  });

  it('reads outlier ejection, call leases and weights, documented defaults first', () => {
    assert.deepEqual(loadLookasideConfig(FILE_ENV, FILE_PROBE).load, {
      outlier: {
        consecutiveFailures: 5,
        failurePercentage: 50,
        failureMinCalls: 20,
        windowMs: 10_000,
        baseEjectionMs: 30_000,
        maxEjectionMs: 300_000,
        maxEjectionPercent: 50,
        stalledCallsMs: 500,
      },
      weights: { blackoutMs: 10_000, expirationMs: 180_000, errorPenalty: 1, updatePeriodMs: 1_000, reportIntervalMs: 1_000, maxStreams: 1_000 },
      callLeaseMs: 30_000,
    });
    const config = loadLookasideConfig(
      {
        ...FILE_ENV,
        DEFAULT_POLICY: 'least_request',
        OUTLIER_CONSECUTIVE_FAILURES: '0',
        OUTLIER_FAILURE_PERCENTAGE: '80',
        OUTLIER_FAILURE_MIN_CALLS: '100',
        OUTLIER_WINDOW_SECONDS: '30',
        OUTLIER_BASE_EJECTION_SECONDS: '5',
        OUTLIER_MAX_EJECTION_SECONDS: '60',
        OUTLIER_MAX_EJECTION_PERCENT: '100',
        OUTLIER_STALLED_CALLS_MS: '0',
        WRR_BLACKOUT_SECONDS: '0',
        WRR_WEIGHT_EXPIRATION_SECONDS: '60',
        WRR_ERROR_PENALTY: '0.5',
        ORCA_REPORT_INTERVAL_MS: '250',
        MAX_ORCA_STREAMS: '10',
        CALL_LEASE_SECONDS: '120',
      },
      FILE_PROBE,
    );
    assert.equal(config.defaultPolicy, 'least_request');
    assert.deepEqual(config.load, {
      outlier: {
        consecutiveFailures: 0,
        failurePercentage: 80,
        failureMinCalls: 100,
        windowMs: 30_000,
        baseEjectionMs: 5_000,
        maxEjectionMs: 60_000,
        maxEjectionPercent: 100,
        stalledCallsMs: 0,
      },
      weights: { blackoutMs: 0, expirationMs: 60_000, errorPenalty: 0.5, updatePeriodMs: 1_000, reportIntervalMs: 250, maxStreams: 10 },
      callLeaseMs: 120_000,
    });
    assert.match(configError({ ...FILE_ENV, OUTLIER_MAX_EJECTION_PERCENT: '101' }).message, /^OUTLIER_MAX_EJECTION_PERCENT: must be a whole number from 0 to 100/);
    assert.match(configError({ ...FILE_ENV, WRR_ERROR_PENALTY: 'high' }).message, /^WRR_ERROR_PENALTY: must be a number from 0 to 1000, got "high"$/);
    assert.match(configError({ ...FILE_ENV, ORCA_REPORT_INTERVAL_MS: '10' }).message, /^ORCA_REPORT_INTERVAL_MS: must be a whole number from 100/);
    assert.match(configError({ ...FILE_ENV, CALL_LEASE_SECONDS: '0' }).message, /^CALL_LEASE_SECONDS:/);
  });

  it('names the variable and the accepted values for bad numbers', () => {
    assert.match(configError({ ...FILE_ENV, LB_PORT: 'abc' }).message, /^LB_PORT: must be a whole number from 0 to 65535, got "abc"$/);
    assert.match(configError({ ...FILE_ENV, LB_PORT: '70000' }).message, /^LB_PORT:/);
    assert.match(configError({ ...FILE_ENV, METRICS_PORT: '1.5' }).message, /^METRICS_PORT:/);
    assert.match(configError({ ...FILE_ENV, WATCH_SILENCE_SECONDS: '0' }).message, /^WATCH_SILENCE_SECONDS: must be a whole number from 1 to 3600/);
    assert.match(configError({ ...FILE_ENV, MAX_SERVICES: '0' }).message, /^MAX_SERVICES: must be a whole number from 1/);
    assert.match(configError({ ...FILE_ENV, REFRESH_INTERVAL_SECONDS: '-1' }).message, /^REFRESH_INTERVAL_SECONDS:/);
    assert.match(configError({ ...FILE_ENV, IDLE_TIMEOUT_SECONDS: 'soon' }).message, /^IDLE_TIMEOUT_SECONDS:/);
    assert.match(configError({ ...FILE_ENV, NEGATIVE_CACHE_SECONDS: '-1' }).message, /^NEGATIVE_CACHE_SECONDS: must be a whole number from 0/);
    assert.match(configError({ ...FILE_ENV, LOOKUPS_PER_SECOND: '0' }).message, /^LOOKUPS_PER_SECOND: must be a whole number from 1/);
  });

  it('names the variable and the choices for bad words', () => {
    assert.equal(
      configError({ ...FILE_ENV, DEFAULT_POLICY: 'fastest' }).message,
      'DEFAULT_POLICY: must be one of round_robin, random, least_request, weighted_round_robin, got "fastest"',
    );
    assert.match(configError({ ...FILE_ENV, LOG_LEVEL: 'loud' }).message, /^LOG_LEVEL: must be one of fatal, error/);
    assert.match(configError({ ...FILE_ENV, DISCOVERY: 'dns' }).message, /^DISCOVERY: must be one of kubernetes, file/);
  });

  it('serves plaintext unless TLS_CERT_FILE and TLS_KEY_FILE are set; TLS_CLIENT_CA_FILE adds mTLS', () => {
    assert.equal(loadLookasideConfig(FILE_ENV, FILE_PROBE).tls, undefined);
    const tls = { TLS_CERT_FILE: '/tls/tls.crt', TLS_KEY_FILE: '/tls/tls.key' };
    assert.deepEqual(loadLookasideConfig({ ...FILE_ENV, ...tls }, FILE_PROBE).tls, { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', clientCaFile: undefined });
    assert.deepEqual(loadLookasideConfig({ ...FILE_ENV, ...tls, TLS_CLIENT_CA_FILE: '/ca/ca.crt' }, FILE_PROBE).tls?.clientCaFile, '/ca/ca.crt');
  });

  it('refuses half a TLS setting, naming the variable that is missing', () => {
    assert.match(configError({ ...FILE_ENV, TLS_KEY_FILE: '/tls/tls.key' }).message, /^TLS_CERT_FILE: is required with TLS_KEY_FILE/);
    assert.match(configError({ ...FILE_ENV, TLS_CERT_FILE: '/tls/tls.crt' }).message, /^TLS_KEY_FILE: is required with TLS_CERT_FILE/);
    assert.match(configError({ ...FILE_ENV, TLS_CLIENT_CA_FILE: '/ca/ca.crt' }).message, /^TLS_CLIENT_CA_FILE: requires TLS: set TLS_CERT_FILE and TLS_KEY_FILE/);
  });

  it('rejects namespaces that are not RFC 1123 labels', () => {
    assert.match(configError({ ...FILE_ENV, POD_NAMESPACE: 'Prod' }).message, /^POD_NAMESPACE:/);
    assert.match(configError({ ...FILE_ENV, ALLOWED_NAMESPACES: 'ok,not_ok' }).message, /^ALLOWED_NAMESPACES: .*"not_ok"/);
  });

  describe('choosing where endpoints come from', () => {
    it('uses kubernetes inside a cluster', () => {
      assert.deepEqual(loadLookasideConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, NO_FILES).discovery, {
        kind: 'kubernetes',
        cluster: { kind: 'in-cluster' },
      });
    });

    it('uses kubernetes when KUBECONFIG or ~/.kube/config exists, with the files that exist, before an in-cluster config', () => {
      const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };
      assert.deepEqual(loadLookasideConfig({ ...inCluster, KUBECONFIG: '/missing:/k/config::/k/other' }, withFiles('/k/config', '/k/other')).discovery, {
        kind: 'kubernetes',
        cluster: { kind: 'kubeconfig', files: ['/k/config', '/k/other'] },
      });
      assert.deepEqual(loadLookasideConfig(inCluster, withFiles('/home/someone/.kube/config')).discovery, {
        kind: 'kubernetes',
        cluster: { kind: 'kubeconfig', files: ['/home/someone/.kube/config'] },
      });
    });

    it('uses the file when ENDPOINTS_FILE is set, even beside a kubeconfig', () => {
      const probe = withFiles('/home/someone/.kube/config', '/etc/endpoints.yaml');
      assert.equal(loadLookasideConfig(FILE_ENV, probe).discovery.kind, 'file');
    });

    it('lets DISCOVERY decide when set', () => {
      const probe = withFiles('/home/someone/.kube/config', '/etc/endpoints.yaml');
      assert.equal(loadLookasideConfig({ ...FILE_ENV, DISCOVERY: 'kubernetes' }, probe).discovery.kind, 'kubernetes');
    });

    it('refuses DISCOVERY=kubernetes with neither a kubeconfig nor an in-cluster config, naming KUBECONFIG', () => {
      assert.equal(
        configError({ DISCOVERY: 'kubernetes' }, NO_FILES).message,
        'KUBECONFIG: is not set and there is no /home/nobody/.kube/config, and there is no in-cluster config ' +
          '(KUBERNETES_SERVICE_HOST is not set): DISCOVERY=kubernetes needs one of them (or use DISCOVERY=file with ENDPOINTS_FILE)',
      );
      assert.match(configError({ DISCOVERY: 'kubernetes', KUBECONFIG: '/gone:/also-gone' }, NO_FILES).message, /^KUBECONFIG: names no file that exists \(\/gone:\/also-gone\), and there is no in-cluster config/);
      assert.match(configError({ ...FILE_ENV, DISCOVERY: 'kubernetes' }).message, /^KUBECONFIG: /, 'even beside an endpoints file');
    });

    it('explains what to set when there is neither a cluster nor a file', () => {
      assert.match(configError({}, NO_FILES).message, /^ENDPOINTS_FILE: is not set, and there is no cluster to watch/);
    });

    it('requires ENDPOINTS_FILE with DISCOVERY=file, and an existing file', () => {
      assert.match(configError({ DISCOVERY: 'file' }, NO_FILES).message, /^ENDPOINTS_FILE: is required with DISCOVERY=file/);
      assert.equal(configError({ ENDPOINTS_FILE: '/nope.yaml' }, NO_FILES).message, 'ENDPOINTS_FILE: no file at /nope.yaml');
    });
  });
});
