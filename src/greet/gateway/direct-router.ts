import { connectivityState as ConnectivityState, status as Status, type Client } from '@grpc/grpc-js';

import type { Logger } from '../../common/logging.js';
import type { GreetRequest } from '../api.js';
import type { KeepaliveSettings } from './config.js';
import { callGreet, openGreetChannel } from './greet-client.js';
import type { GatewayMetrics } from './metrics.js';
import { greetFailure, type GreetRouter, type Readiness, type RouteOutcome } from './router.js';

export interface DirectRouterOptions {
  readonly mode: 'round_robin' | 'none';
  /** A grpc-js target: `dns:///greetserver.default.svc:50051`, `ipv4:127.0.0.1:50051,127.0.0.1:50052`, … */
  readonly target: string;
  readonly greetTimeoutMs: number;
  readonly keepalive: KeepaliveSettings;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

/**
 * BALANCING=round_robin and BALANCING=none: one grpc-js channel over the
 * whole Service, balanced by grpc-js itself. `round_robin` is the client-side
 * fix; `none` is pick_first, which sticks to one pod: the problem this
 * project exists to solve, kept so the two can be compared.
 */
export class DirectRouter implements GreetRouter {
  readonly mode: 'round_robin' | 'none';
  private readonly client: Client;

  constructor(private readonly options: DirectRouterOptions) {
    this.mode = options.mode;
    const policy = options.mode === 'round_robin' ? 'round_robin' : 'pick_first';
    this.client = openGreetChannel(options.target, options.keepalive, {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }),
      // The configured policy wins over one a DNS TXT record might publish.
      'grpc.service_config_disable_resolution': 1,
    });
    // Connect now, so /readyz reflects the backends before the first request.
    this.client.getChannel().getConnectivityState(true);
    options.logger.info({ target: options.target, policy }, 'greet channel opened');
  }

  async greet(request: GreetRequest): Promise<RouteOutcome> {
    const first = await this.call(request);
    if (first.ok || first.code !== Status.UNAVAILABLE) return first.outcome;
    // Same rule as the lookaside mode: one retry; grpc-js picks the next ready subchannel.
    this.options.metrics.countRetry();
    return (await this.call(request)).outcome;
  }

  readiness(): Readiness {
    const state = this.client.getChannel().getConnectivityState(true);
    const ready = state !== ConnectivityState.TRANSIENT_FAILURE && state !== ConnectivityState.SHUTDOWN;
    return {
      ready,
      summary: `the grpc-js channel to ${this.options.target} is ${ConnectivityState[state]}`,
      detail: { mode: this.mode, target: this.options.target, channel: ConnectivityState[state] },
    };
  }

  close(): void {
    this.client.close();
  }

  private async call(request: GreetRequest): Promise<{ ok: boolean; code: Status; outcome: RouteOutcome }> {
    const result = await callGreet(this.client, request, this.options.greetTimeoutMs);
    if (result.ok) {
      this.options.metrics.countBackendCall(result.peer, Status.OK);
      return { ok: true, code: Status.OK, outcome: { ok: true, response: result.response, address: result.peer } };
    }
    this.options.metrics.countBackendCall(this.options.target, result.code);
    return { ok: false, code: result.code, outcome: greetFailure(this.options.target, result.code, result.message) };
  }
}
