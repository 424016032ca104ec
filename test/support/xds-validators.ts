import { createRequire } from 'node:module';

import { TYPE_URLS, type XdsType } from '../../src/lookaside/xds/xds-protos.js';

/** grpc-js-xds's own resource decoders, which validate as the stock Node client does before it uses a resource. */
interface ResourceDecoder {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; value?: unknown; error?: string };
}
const require = createRequire(import.meta.url);
const DECODERS: Record<XdsType, ResourceDecoder> = {
  listener: decoder('listener-resource-type', 'ListenerResourceType'),
  route: decoder('route-config-resource-type', 'RouteConfigurationResourceType'),
  cluster: decoder('cluster-resource-type', 'ClusterResourceType'),
  endpoint: decoder('endpoint-resource-type', 'EndpointResourceType'),
};
const DECODE_CONTEXT = { server: {}, bootstrap: { certificateProviders: {} } };

// The stock client's set-up: it registers the HTTP filters (the router among them) its validators look up.
(require('@grpc/grpc-js-xds') as { register(): void }).register();

function decoder(file: string, className: string): ResourceDecoder {
  const module = require(`@grpc/grpc-js-xds/build/src/xds-resource-type/${file}.js`) as Record<string, { get(): ResourceDecoder }>;
  return (module[className] as { get(): ResourceDecoder }).get();
}

/** What grpc-js-xds makes of an encoded resource: its name, and an error when it refuses it. */
export function grpcJsVerdict(type: XdsType, value: Buffer): { name: string; value?: unknown; error?: string } {
  return DECODERS[type].decode(DECODE_CONTEXT, { type_url: TYPE_URLS[type], value });
}
