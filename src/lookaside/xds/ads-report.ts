import type { Node__Output } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/core/v3/Node.js';

import type { XdsType } from './xds-protos.js';

/** What GET /debug/xds shows of the xDS server (snake_case, as the protos spell things). */
export interface XdsReport {
  readonly streams_open: number;
  /** Streams whose node id contains the `node` asked for (all of them when none was). */
  readonly streams_matching: number;
  /** The first 100 of those. */
  readonly streams: readonly StreamReport[];
  /** Every Service some stream subscribes to, and what the lookaside knows of it. */
  readonly services: ReadonlyArray<{ service: string; state: string; streams: number }>;
}

export interface StreamReport {
  readonly node: Record<string, unknown> | null;
  readonly peer: string;
  readonly opened_at: string;
  readonly stale_requests: number;
  readonly types: Partial<Record<XdsType, TypeReport>>;
}

export interface TypeReport {
  /** Each subscribed name: `present` (sent), `absent` (left out: it does not exist) or `unknown` (not known yet), with why. */
  readonly names: ReadonlyArray<{ name: string; state: string; problem?: string }>;
  readonly sent_version: string | null;
  readonly sent_nonce: string | null;
  readonly acked_version: string | null;
  readonly last_nack: NackReport | null;
}

export interface NackReport {
  readonly version: string;
  readonly nonce: string;
  /** The client's error_detail.message. */
  readonly message: string;
  readonly at: string;
}

/** Strings from the client are cut to this length in the report. */
const MAX_SHOWN_CHARS = 200;

/** The parts of a client's Node worth showing: who it is and where. */
export function describeNode(node: Node__Output): Record<string, unknown> {
  const locality = node.locality;
  return {
    id: shown(node.id),
    cluster: shown(node.cluster),
    locality: locality === null ? null : { region: shown(locality.region), zone: shown(locality.zone), sub_zone: shown(locality.sub_zone) },
    user_agent: shown(`${node.user_agent_name} ${node.user_agent_version ?? ''}`.trim()),
  };
}

export function nackReport(nack: { version: string; nonce: string; message: string; atMs: number }): NackReport {
  return { version: nack.version, nonce: nack.nonce, message: nack.message, at: new Date(nack.atMs).toISOString() };
}

function shown(text: string): string {
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}
