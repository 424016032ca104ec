import type { ResolveRequest__Output } from '../generated/lookaside/v1/ResolveRequest.js';
import type { CallLedger } from './load/call-ledger.js';
import type { CallReports } from './load/call-reports.js';
import type { CallAccounting } from './load/service-loads.js';

/** The reporting fields of lookaside.v1 ResolveRequest, as proto-loader decodes them. */
export type V1Reporting = Pick<ResolveRequest__Output, 'finished_calls' | 'reports_calls' | 'report_only'>;

/**
 * The call results a lookaside.v1 request carries, each counted by its code;
 * undefined when it carries none and will report nothing (every old client).
 */
export function v1CallReports(request: V1Reporting, ledger: CallLedger, accounting: CallAccounting | undefined): CallReports | undefined {
  const results = request.finished_calls;
  if (results.length === 0 && !request.reports_calls) return undefined;
  for (const result of results) if (!result.not_called) accounting?.countResult(result.code);
  return {
    finished: results.map((result) => ({
      address: result.address,
      code: result.code,
      latencyMicros: result.latency_micros,
      notCalled: result.not_called,
    })),
    reportsCall: request.reports_calls && !request.report_only,
    ledger,
  };
}
