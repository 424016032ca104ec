import { connectivityState as ConnectivityState, status as Status, type ChannelOptions, type Client } from '@grpc/grpc-js';

import type { Logger } from '../../common/logging.js';
import type { GreetRequest } from '../api.js';
import type { KeepaliveSettings } from './config.js';
import { callGreet, openGreetChannel } from './greet-client.js';
import type { GatewayMetrics } from './metrics.js';
import { greetFailure, type GreetRouter, type Readiness, type RouteOutcome } from './router.js';

export type DirectMode = 'round_robin' | 'none' | 'xds';

export interface DirectRouterOptions {
  readonly mode: DirectMode;
  /** A grpc-js target: `dns:///greetserver.default.svc:50051`, `ipv4:127.0.0.1:50051,127.0.0.1:50052`, `xds:///…` */
  readonly target: string;
  /** What /readyz adds about the mode (for xds: the control plane and node id). */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly greetTimeoutMs: number;
  readonly keepalive: KeepaliveSettings;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

/** Which policy grpc-js runs: its own for round_robin and none; xDS brings its own (the lookaside's Cluster). */
function channelOptions(mode: DirectMode): ChannelOptions {
  if (mode === 'xds') return {};
  const policy = mode === 'round_robin' ? 'round_robin' : 'pick_first';
  return {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }),
    // The configured policy wins over one a DNS TXT record might publish.
    'grpc.service_config_disable_resolution': 1,
  };
}

/**
 * BALANCING=round_robin, none and xds: one grpc-js channel over the whole
 * Service, balanced by grpc-js itself. `round_robin` is the client-side fix;
 * `none` is pick_first, which sticks to one pod: the problem this project
 * exists to solve, kept so they can be compared; `xds` takes the pods and the
 * policy from the lookaside's xDS (prepareXdsChannels first), with no call of
 * ours between requests.
 */
export class DirectRouter implements GreetRouter {
  readonly mode: DirectMode;
  private readonly client: Client;
  /** Whether the channel has been READY once: an xDS channel has no pod to call before its first endpoints. */
  private wasReady = false;

  constructor(private readonly options: DirectRouterOptions) {
    this.mode = options.mode;
    this.client = openGreetChannel(options.target, options.keepalive, channelOptions(options.mode));
    // Connect now, so /readyz reflects the backends before the first request.
    this.client.getChannel().getConnectivityState(true);
    options.logger.info({ target: options.target, mode: options.mode, ...options.detail }, 'greet channel opened');
  }

  async greet(request: GreetRequest): Promise<RouteOutcome> {
    const first = await this.call(request);
    if (first.ok || first.code !== Status.UNAVAILABLE) return first.outcome;
    // Same rule as the lookaside mode: one retry; grpc-js picks the next ready subchannel.
    this.options.metrics.countRetry();
    return (await this.call(request)).outcome;
  }

  readiness(): Readiness {
    const state = this.channelState(true);
    // An xDS channel waits IDLE or CONNECTING for a Listener the lookaside never sends (15 s, then TRANSIENT_FAILURE).
    const waitingForXds = this.mode === 'xds' && !this.wasReady;
    const ready = state !== ConnectivityState.TRANSIENT_FAILURE && state !== ConnectivityState.SHUTDOWN && !waitingForXds;
    return {
      ready,
      summary: `the grpc-js channel to ${this.options.target} is ${ConnectivityState[state]}${waitingForXds ? ', and has had no endpoints from the xDS server yet' : ''}`,
      detail: { mode: this.mode, target: this.options.target, channel: ConnectivityState[state], ...this.options.detail },
    };
  }

  close(): void {
    this.client.close();
  }

  private async call(request: GreetRequest): Promise<{ ok: boolean; code: Status; outcome: RouteOutcome }> {
    const result = await callGreet(this.client, request, this.options.greetTimeoutMs);
    if (result.ok) {
      this.wasReady = true;
      this.options.metrics.countBackendCall(result.peer, Status.OK);
      return { ok: true, code: Status.OK, outcome: { ok: true, response: result.response, address: result.peer } };
    }
    this.options.metrics.countBackendCall(this.options.target, result.code);
    if (result.code === Status.DEADLINE_EXCEEDED && this.channelState(false) !== ConnectivityState.READY) {
      // Not a slow pod: grpc-js held the call because it has none to send it to (resolving, or a Service the xDS server lacks).
      return { ok: false, code: result.code, outcome: greetFailure(this.options.target, Status.UNAVAILABLE, `${result.message} (channel ${ConnectivityState[this.channelState(false)]})`) };
    }
    return { ok: false, code: result.code, outcome: greetFailure(this.options.target, result.code, result.message) };
  }

  private channelState(connect: boolean): ConnectivityState {
    const state = this.client.getChannel().getConnectivityState(connect);
    if (state === ConnectivityState.READY) this.wasReady = true;
    return state;
  }
}
