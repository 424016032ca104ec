import { Client, credentials, type ClientDuplexStream, type MethodDefinition, type StatusObject } from '@grpc/grpc-js';

import { loadXdsProtos, TYPE_URLS, XDS_TYPES, type MessageName, type XdsType } from '../../src/lookaside/xds/xds-protos.js';

/**
 * A raw ADS client for tests: one StreamAggregatedResources stream whose
 * requests the test writes field by field (nonces, versions, NACKs, stale
 * nonces), and whose responses it decodes, resources included.
 */

export interface AdsResponse {
  readonly type: XdsType;
  readonly version: string;
  readonly nonce: string;
  /** Each resource decoded, keyed by its name (cluster_name for a ClusterLoadAssignment). */
  readonly resources: ReadonlyMap<string, Record<string, unknown>>;
  /** When it arrived (Date.now()). */
  readonly atMs: number;
}

export interface RequestOptions {
  readonly nonce?: string;
  readonly version?: string;
  /** Makes the request a NACK with this error_detail message. */
  readonly error?: string;
}

const MESSAGES: Readonly<Record<XdsType, MessageName>> = {
  listener: 'envoy.config.listener.v3.Listener',
  route: 'envoy.config.route.v3.RouteConfiguration',
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
};

interface RawResponse {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: Array<{ type_url: string; value: Buffer }>;
}

export class AdsClient {
  readonly responses: AdsResponse[] = [];
  readonly status: Promise<StatusObject>;
  private readonly call: ClientDuplexStream<unknown, RawResponse>;
  private readonly protos = loadXdsProtos();
  private sentNode = false;
  /** How many responses `next` has handed out. */
  private read = 0;

  /**
   * @param decodeResources false leaves `resources` empty (a benchmark's
   *   thousand clients only need to know a response came).
   */
  constructor(
    readonly channel: Client,
    private readonly node: Record<string, unknown> = { id: 'test-client', locality: { zone: 'test-zone' } },
    private readonly ownsChannel = false,
    private readonly decodeResources = true,
  ) {
    const method = this.protos.adsService['StreamAggregatedResources'] as MethodDefinition<unknown, RawResponse>;
    this.call = channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    this.call.on('data', (raw: RawResponse) => this.responses.push(this.decodeResponse(raw)));
    this.call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  /** A client on a channel of its own to `target` (`host:port`). */
  static open(target: string, node?: Record<string, unknown>): AdsClient {
    return new AdsClient(new Client(target, credentials.createInsecure()), node, true);
  }

  /** Sends a DiscoveryRequest for `type`; the first request of the stream carries the node. */
  request(type: XdsType, names: readonly string[], options: RequestOptions = {}): void {
    this.call.write({
      node: this.sentNode ? null : this.node,
      type_url: TYPE_URLS[type],
      resource_names: [...names],
      response_nonce: options.nonce ?? '',
      version_info: options.version ?? '',
      error_detail: options.error === undefined ? null : { code: 3, message: options.error },
    });
    this.sentNode = true;
  }

  /** ACKs `response`, keeping `names` subscribed (the names it answered by default). */
  ack(response: AdsResponse, names: readonly string[] = [...response.resources.keys()]): void {
    this.request(response.type, names, { nonce: response.nonce, version: response.version });
  }

  /** NACKs `response`: the version stays the last ACKed one (`acceptedVersion`). */
  nack(response: AdsResponse, names: readonly string[], message: string, acceptedVersion = ''): void {
    this.request(response.type, names, { nonce: response.nonce, version: acceptedVersion, error: message });
  }

  /** The next response not yet handed out (of `type` when given, skipping others), waiting up to `timeoutMs`. */
  async next(type?: XdsType, timeoutMs = 10_000): Promise<AdsResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.read < this.responses.length) {
        const response = this.responses[this.read] as AdsResponse;
        this.read += 1;
        if (type === undefined || response.type === type) return response;
      }
      if (Date.now() > deadline) throw new Error(`no ${type ?? 'xDS'} response within ${timeoutMs} ms (got ${this.responses.length} in all)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Responses of `type` received so far. */
  received(type: XdsType): AdsResponse[] {
    return this.responses.filter((response) => response.type === type);
  }

  /** Decodes an Any-wrapped message found inside a resource (such as a Listener's HttpConnectionManager). */
  decodeAny(any: unknown): Record<string, unknown> {
    const { type_url: typeUrl, value } = any as { type_url: string; value: Uint8Array };
    return this.protos.decode(typeUrl.replace(/^type\.googleapis\.com\//, ''), value);
  }

  halfClose(): void {
    this.call.end();
  }

  close(): void {
    this.call.cancel();
    if (this.ownsChannel) this.channel.close();
  }

  private decodeResponse(raw: RawResponse): AdsResponse {
    const type = XDS_TYPES.find((candidate) => TYPE_URLS[candidate] === raw.type_url);
    if (type === undefined) throw new Error(`response of unknown type ${raw.type_url}`);
    const resources = new Map<string, Record<string, unknown>>();
    for (const resource of this.decodeResources ? raw.resources : []) {
      const message = this.protos.decode(MESSAGES[type], resource.value);
      resources.set(String(message['name'] ?? message['cluster_name']), message);
    }
    return { type, version: raw.version_info, nonce: raw.nonce, resources, atMs: Date.now() };
  }
}
