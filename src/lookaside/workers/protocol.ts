/**
 * What the primary and its gRPC edge workers say to each other over the
 * cluster IPC channel (serialization 'advanced': Maps and arrays travel as
 * they are, without JSON). Every message carries `channel: 'lookaside'` so
 * that prom-client's own cluster messages on the same channel are told apart.
 */
import type { DiscoveryState, Endpoint, ServiceSnapshot } from '../discovery/types.js';
import type { GrpcRoute } from '../routing/grpc-route.js';
import type { JsonAnswer } from '../../common/metrics.js';

export const CHANNEL = 'lookaside';

/** The page a worker answers with its registry's metrics as JSON (prom-client's getMetricsAsJSON), for the primary to aggregate. */
export const METRICS_JSON_PAGE = 'metrics.json';

/** A worker's questions and news for the primary. */
export type WorkerMessage =
  /**
   * The worker's module is loaded and listens for messages: an ES module loads
   * asynchronously, and a message that arrives before its listener is lost.
   */
  | { readonly channel: typeof CHANNEL; readonly type: 'hello' }
  /** Follow a Service for this worker; states come back as `state` with the same id. */
  | { readonly channel: typeof CHANNEL; readonly type: 'follow'; readonly id: number; readonly namespace: string; readonly name: string; readonly endIfMissing: boolean }
  | { readonly channel: typeof CHANNEL; readonly type: 'unfollow'; readonly id: number }
  /** Send this namespace's routes now and after every change. */
  | { readonly channel: typeof CHANNEL; readonly type: 'routes'; readonly namespace: string }
  /** The gRPC port is open and serving. */
  | { readonly channel: typeof CHANNEL; readonly type: 'listening'; readonly port: number }
  /** This worker ejected an endpoint (from its clients' reports); the primary passes it on to the others. */
  | ({ readonly channel: typeof CHANNEL; readonly type: 'ejected' } & Ejection)
  /** The answer to a `page` request. */
  | { readonly channel: typeof CHANNEL; readonly type: 'page'; readonly request: number; readonly answer: JsonAnswer };

/** The primary's answers and orders to one worker. */
export type PrimaryMessage =
  /** `routes`: whether the primary has routes to ask for (the endpoints file's, or GRPCRoutes). */
  | { readonly channel: typeof CHANNEL; readonly type: 'start'; readonly slot: number; readonly workers: number; readonly routes: boolean }
  | { readonly channel: typeof CHANNEL; readonly type: 'state'; readonly id: number; readonly state: WireState; readonly missing: string | undefined }
  | { readonly channel: typeof CHANNEL; readonly type: 'routes'; readonly namespace: string; readonly routes: readonly GrpcRoute[] }
  /** Answer this debug page (path and query) from the worker's own state. */
  | { readonly channel: typeof CHANNEL; readonly type: 'page'; readonly request: number; readonly path: string; readonly query: string }
  /** Another worker ejected an endpoint: out of this one's rotation too. */
  | ({ readonly channel: typeof CHANNEL; readonly type: 'ejected' } & Ejection)
  /** Drain and exit (the primary got SIGTERM). */
  | { readonly channel: typeof CHANNEL; readonly type: 'stop' };

/** An endpoint of a Service out of the rotation for `durationMs`. */
export interface Ejection {
  readonly namespace: string;
  readonly name: string;
  readonly address: string;
  readonly durationMs: number;
}

/** One port's ready endpoints, in columns (fewer objects to clone than one per endpoint). */
interface WirePort {
  readonly name: string;
  /** undefined: the port is not a key of portNumbers (or, for `addresses`, of readyByPort). */
  readonly numbers: readonly number[] | undefined;
  readonly inReady: boolean;
  readonly ips: readonly string[];
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
  readonly podNames: readonly string[];
  readonly zones: readonly string[];
  readonly nodeNames: readonly string[];
}

export type WireState =
  | { readonly kind: 'pending' }
  | Extract<DiscoveryState, { kind: 'failed' }>
  | {
      readonly kind: 'synced';
      readonly sliceCount: number;
      readonly readyCount: number;
      readonly notReadyCount: number;
      readonly fingerprint: string;
      readonly ports: readonly WirePort[];
    };

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === CHANNEL;
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return isWorkerMessage(message);
}

export function encodeState(state: DiscoveryState): WireState {
  if (state.kind !== 'synced') return state;
  const { snapshot } = state;
  const ports: WirePort[] = [];
  const names = new Set([...snapshot.readyByPort.keys(), ...snapshot.portNumbers.keys()]);
  for (const name of names) {
    const endpoints = snapshot.readyByPort.get(name) ?? [];
    ports.push({
      name,
      numbers: snapshot.portNumbers.get(name),
      inReady: snapshot.readyByPort.has(name),
      ips: endpoints.map((endpoint) => endpoint.ip),
      ports: endpoints.map((endpoint) => endpoint.port),
      addresses: endpoints.map((endpoint) => endpoint.address),
      podNames: endpoints.map((endpoint) => endpoint.podName),
      zones: endpoints.map((endpoint) => endpoint.zone),
      nodeNames: endpoints.map((endpoint) => endpoint.nodeName),
    });
  }
  const { sliceCount, readyCount, notReadyCount, fingerprint } = snapshot;
  return { kind: 'synced', sliceCount, readyCount, notReadyCount, fingerprint, ports };
}

/** The snapshot again, frozen as sources publish it. */
export function decodeState(wire: WireState): DiscoveryState {
  if (wire.kind !== 'synced') return wire;
  const readyByPort = new Map<string, readonly Endpoint[]>();
  const portNumbers = new Map<string, readonly number[]>();
  for (const port of wire.ports) {
    const endpoints: Endpoint[] = port.addresses.map((address, index) =>
      Object.freeze({
        address,
        ip: port.ips[index] as string,
        port: port.ports[index] as number,
        podName: port.podNames[index] as string,
        zone: port.zones[index] as string,
        nodeName: port.nodeNames[index] as string,
      }),
    );
    if (port.inReady) readyByPort.set(port.name, Object.freeze(endpoints));
    if (port.numbers !== undefined) portNumbers.set(port.name, Object.freeze([...port.numbers]));
  }
  const snapshot: ServiceSnapshot = Object.freeze({
    sliceCount: wire.sliceCount,
    readyByPort,
    portNumbers,
    readyCount: wire.readyCount,
    notReadyCount: wire.notReadyCount,
    fingerprint: wire.fingerprint,
  });
  return { kind: 'synced', snapshot };
}
