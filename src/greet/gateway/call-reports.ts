import { PREFIX_BYTES } from './grpc-wire.js';

/**
 * lookaside.v1 ResolveRequest field 5, `repeated CallResult finished_calls`,
 * as a length-delimited field (field 5, wire type 2), and CallResult's own
 * fields: address (1, length-delimited), code (2, varint), latency_micros (3, varint).
 */
const FINISHED_CALLS_TAG = (5 << 3) | 2;
const ADDRESS_TAG = (1 << 3) | 2;
const CODE_TAG = 2 << 3;
const LATENCY_TAG = 3 << 3;
const NOT_CALLED_TAG = 4 << 3;
/** Calls kept while none can be sent (the lookaside is unreachable); later ones are dropped. */
export const MAX_PENDING_REPORTS = 1_024;
/** Encoded addresses kept; far more than the pods of one Service. */
const MAX_ENCODED_ADDRESSES = 4_096;

interface PendingReport {
  /** The address field, encoded (tag, length, bytes). */
  readonly address: Buffer;
  readonly code: number;
  readonly latencyMicros: number;
  readonly notCalled: boolean;
  /** The whole CallResult message's length. */
  readonly length: number;
}

/**
 * The calls the gateway made and has not yet told the lookaside about, and
 * the request frames that carry them. The question part of a request never
 * changes and is serialized once; reports are appended to it as encoded
 * protobuf fields (protobuf lets a repeated field follow the others), written
 * by hand into one buffer per request, so the hot path costs one allocation
 * and no serializer.
 */
export class CallReports {
  private pending: PendingReport[] = [];
  private readonly encodedAddresses = new Map<string, Buffer>();
  /** Reports dropped because MAX_PENDING_REPORTS were waiting. */
  dropped = 0;

  get size(): number {
    return this.pending.length;
  }

  /** One finished call: `code` its gRPC status, `latencyMicros` from sending it to its status. */
  add(address: string, code: number, latencyMicros: number): void {
    this.push(address, code, latencyMicros, false);
  }

  /** An answer no call was made with (a retry that got the pod that failed, a probe). */
  addNotCalled(address: string): void {
    this.push(address, 0, 0, true);
  }

  private push(address: string, code: number, latencyMicros: number, notCalled: boolean): void {
    if (this.pending.length >= MAX_PENDING_REPORTS) {
      this.dropped += 1;
      return;
    }
    const field = this.addressField(address);
    const safeCode = code >>> 0;
    const safeLatency = Math.min(Math.max(0, Math.round(latencyMicros)), 0xffff_ffff) >>> 0;
    const length =
      field.length +
      (safeCode === 0 ? 0 : 1 + varintBytes(safeCode)) +
      (safeLatency === 0 ? 0 : 1 + varintBytes(safeLatency)) +
      (notCalled ? 2 : 0);
    this.pending.push({ address: field, code: safeCode, latencyMicros: safeLatency, notCalled, length });
  }

  /** `question` (a serialized ResolveRequest) with every pending report appended, framed for the wire; the reports are taken. */
  frame(question: Buffer): Buffer {
    const reports = this.pending;
    if (reports.length > 0) this.pending = [];
    let messageBytes = question.length;
    for (const report of reports) messageBytes += 1 + varintBytes(report.length) + report.length;
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + messageBytes);
    frame[0] = 0;
    frame.writeUInt32BE(messageBytes, 1);
    let offset = PREFIX_BYTES + question.copy(frame, PREFIX_BYTES);
    for (const report of reports) {
      frame[offset++] = FINISHED_CALLS_TAG;
      offset = writeVarint(frame, offset, report.length);
      offset += report.address.copy(frame, offset);
      if (report.code !== 0) {
        frame[offset++] = CODE_TAG;
        offset = writeVarint(frame, offset, report.code);
      }
      if (report.latencyMicros !== 0) {
        frame[offset++] = LATENCY_TAG;
        offset = writeVarint(frame, offset, report.latencyMicros);
      }
      if (report.notCalled) {
        frame[offset++] = NOT_CALLED_TAG;
        frame[offset++] = 1;
      }
    }
    return frame;
  }

  private addressField(address: string): Buffer {
    let field = this.encodedAddresses.get(address);
    if (field === undefined) {
      const bytes = Buffer.from(address, 'utf8');
      field = Buffer.allocUnsafe(1 + varintBytes(bytes.length) + bytes.length);
      field[0] = ADDRESS_TAG;
      bytes.copy(field, writeVarint(field, 1, bytes.length));
      if (this.encodedAddresses.size >= MAX_ENCODED_ADDRESSES) this.encodedAddresses.clear();
      this.encodedAddresses.set(address, field);
    }
    return field;
  }
}

/** Bytes of an unsigned 32-bit varint. */
function varintBytes(value: number): number {
  let bytes = 1;
  for (let rest = value >>> 7; rest !== 0; rest >>>= 7) bytes += 1;
  return bytes;
}

/** Writes an unsigned 32-bit varint at `offset`; returns the offset after it. */
function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value >>> 0;
  let at = offset;
  while (rest >= 0x80) {
    buffer[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buffer[at++] = rest;
  return at;
}
