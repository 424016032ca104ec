import { join } from 'node:path';

import protobuf from 'protobufjs';

import { PROTO_ROOT } from './grpc.js';

/**
 * gRPC's rich error model (google.rpc.Status in the `grpc-status-details-bin`
 * trailer) with one google.rpc.ErrorInfo: a machine-readable reason beside the
 * human-readable message, so clients never have to parse messages. Only the
 * ErrorInfo detail is written or read here.
 */

/** The trailer gRPC libraries (grpc-go's status.FromError, grpc-java's StatusProto) read details from. */
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

export interface ErrorInfo {
  /** UPPER_SNAKE_CASE, stable: clients branch on it. */
  readonly reason: string;
  /** Who defines `reason`, e.g. `lookaside.dev`. */
  readonly domain: string;
}

interface Codecs {
  readonly status: protobuf.Type;
  readonly errorInfo: protobuf.Type;
}

let codecs: Codecs | undefined;

function load(): Codecs {
  if (codecs === undefined) {
    const root = new protobuf.Root();
    // google/protobuf/* are built into protobufjs; google/rpc/* are vendored under proto/.
    root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_ROOT, target));
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
    codecs = { status: root.lookupType('google.rpc.Status'), errorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  return codecs;
}

/** A serialized google.rpc.Status carrying `info`, for the `grpc-status-details-bin` trailer. */
export function encodeStatusDetails(code: number, message: string, info: ErrorInfo): Buffer {
  const { status, errorInfo } = load();
  const detail = errorInfo.encode(errorInfo.fromObject({ reason: info.reason, domain: info.domain })).finish();
  // protobufjs's built-in google.protobuf.Any keeps the proto's field name, type_url.
  return Buffer.from(status.encode(status.fromObject({ code, message, details: [{ type_url: ERROR_INFO_TYPE_URL, value: detail }] })).finish());
}

/** The first ErrorInfo in a serialized google.rpc.Status; undefined when there is none or it does not decode. */
export function decodeErrorInfo(bytes: Uint8Array): ErrorInfo | undefined {
  const { status, errorInfo } = load();
  try {
    const decoded = status.toObject(status.decode(bytes), { defaults: true }) as { details: Array<{ type_url: string; value: Uint8Array }> };
    const detail = decoded.details.find((candidate) => candidate.type_url === ERROR_INFO_TYPE_URL);
    if (detail === undefined) return undefined;
    const info = errorInfo.toObject(errorInfo.decode(detail.value), { defaults: true }) as { reason: string; domain: string };
    return { reason: info.reason, domain: info.domain };
  } catch {
    return undefined;
  }
}
