import { Channel, credentials, type ServiceError, type StatusObject } from '@grpc/grpc-js';
// grpc-js 1.14 has createOrcaClient in its orca module but does not export it
// from its index; test/unit/orca-subscription.test.ts runs it against a real
// ServerMetricRecorder, so a grpc-js that moves it fails there.
import { createOrcaClient } from '@grpc/grpc-js/build/src/orca.js';

import type { LoadReport } from './weights.js';

export interface OrcaStreamHandlers {
  report(report: LoadReport): void;
  /** The stream ended, with its gRPC status code; called once, and never after cancel(). */
  end(code: number, message: string): void;
}

export interface OrcaStream {
  cancel(): void;
}

/** Opens `xds.service.orca.v3.OpenRcaService/StreamCoreMetrics` to one endpoint; a fake in tests. */
export type OpenOrcaStream = (address: string, reportIntervalMs: number, handlers: OrcaStreamHandlers) => OrcaStream;

/** OrcaLoadReport as grpc-js's proto loader decodes it (defaults filled in). */
interface OrcaLoadReportMessage {
  readonly cpu_utilization: number;
  readonly application_utilization: number;
  readonly rps_fractional: number;
  readonly eps: number;
}

/** An out-of-band ORCA stream over a grpc-js channel of its own, plaintext, as the greet servers serve it. */
export const openGrpcOrcaStream: OpenOrcaStream = (address, reportIntervalMs, handlers) => {
  const channel = new Channel(address, credentials.createInsecure(), {});
  const client = createOrcaClient(channel);
  const call = client.streamCoreMetrics({
    report_interval: { seconds: Math.floor(reportIntervalMs / 1000), nanos: (reportIntervalMs % 1000) * 1_000_000 },
  });
  let ended = false;
  const finish = (code: number, message: string): void => {
    if (ended) return;
    ended = true;
    client.close();
    handlers.end(code, message);
  };
  call.on('data', (message: OrcaLoadReportMessage) => {
    if (ended) return;
    handlers.report({
      cpuUtilization: message.cpu_utilization,
      applicationUtilization: message.application_utilization,
      qps: message.rps_fractional,
      eps: message.eps,
    });
  });
  call.on('error', (error: ServiceError) => finish(error.code, error.details));
  call.on('status', (status: StatusObject) => finish(status.code, status.details));
  return {
    cancel: () => {
      if (ended) return;
      ended = true;
      call.cancel();
      client.close();
    },
  };
};
