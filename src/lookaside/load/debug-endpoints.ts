import type { JsonAnswer } from '../../common/metrics.js';
import { checkLabel } from '../validation.js';
import type { EndpointLoad } from './endpoint-load.js';
import type { ServiceLoad } from './service-load.js';
import type { ServiceLoads } from './service-loads.js';

/** The path on the metrics port. */
export const DEBUG_ENDPOINTS_PATH = '/debug/endpoints';

/**
 * `GET /debug/endpoints?service=&namespace=`: what the lookaside knows of each
 * endpoint of a watched Service (outstanding calls, recent failures, ejection,
 * weight). `namespace` defaults to the lookaside's own.
 */
export function debugEndpointsRoute(loads: ServiceLoads, ownNamespace: string): (query: URLSearchParams) => JsonAnswer {
  return (query) => {
    const service = query.get('service') ?? '';
    const namespace = query.get('namespace') || ownNamespace;
    const invalid = checkLabel('service', service, true) ?? checkLabel('namespace', namespace, true);
    if (invalid !== undefined) return failure(400, 'INVALID_ARGUMENT', `${invalid}; use ${DEBUG_ENDPOINTS_PATH}?service=<name>&namespace=<namespace>`);
    const load = loads.get({ namespace, name: service });
    if (load === undefined) {
      return failure(404, 'NOT_FOUND', `${namespace}/${service} is not watched now: it has had no Resolve recently, or does not exist`);
    }
    return { status: 200, body: describe(load, namespace, service) };
  };
}

function describe(load: ServiceLoad, namespace: string, service: string): Record<string, unknown> {
  const nowMs = load.now();
  load.version(nowMs);
  return {
    namespace,
    service,
    ejected_endpoints: load.ejected,
    endpoints: load.all().map((endpoint) => describeEndpoint(load, endpoint, nowMs)),
  };
}

function describeEndpoint(load: ServiceLoad, endpoint: EndpointLoad, nowMs: number): Record<string, unknown> {
  const { health, weight } = endpoint;
  const recent = health.window(nowMs);
  const report = weight.lastReport;
  const currentWeight = weight.current(nowMs);
  return {
    address: endpoint.address,
    pod_name: endpoint.endpoint.podName,
    port_name: endpoint.portName,
    outstanding: endpoint.outstanding,
    stalled_ms: endpoint.stalledMs(nowMs),
    calls: endpoint.calls,
    failures: endpoint.failures,
    recent_calls: recent.calls,
    recent_failures: recent.failures,
    consecutive_failures: health.consecutiveFailures,
    latency_ms: endpoint.latencyMicros === undefined ? null : Math.round(endpoint.latencyMicros) / 1000,
    ejected: health.ejectedUntilMs !== undefined,
    ejected_until: health.ejectedUntilMs === undefined ? null : new Date(health.ejectedUntilMs).toISOString(),
    ejections: health.ejections,
    on_probation: health.onProbation,
    weight: currentWeight > 0 ? currentWeight : null,
    orca: load.orcaState(endpoint),
    load_report:
      report === undefined
        ? null
        : {
            cpu_utilization: report.cpuUtilization,
            application_utilization: report.applicationUtilization,
            qps: report.qps,
            eps: report.eps,
            age_ms: nowMs - (weight.lastReportMs ?? nowMs),
          },
  };
}

function failure(status: number, code: string, message: string): JsonAnswer {
  return { status, body: { error: { code, message } } };
}
