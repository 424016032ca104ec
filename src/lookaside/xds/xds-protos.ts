import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
// proto-loader registers descriptor.proto (which validate.proto extends) with protobufjs on import.
import type { PackageDefinition } from '@grpc/proto-loader';
import '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/**
 * The xDS protos, read from the copy of envoy-api (with xds, googleapis and
 * protoc-gen-validate) that ships in @grpc/grpc-js-xds's deps/ folder: the
 * same files the stock Node client decodes our resources with, and nothing to
 * vendor or keep in step by hand.
 */

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** The four resource types the lookaside serves, by their short names (the metrics' `type` label). */
export const XDS_TYPES = ['listener', 'route', 'cluster', 'endpoint'] as const;
export type XdsType = (typeof XDS_TYPES)[number];

export const TYPE_URLS: Readonly<Record<XdsType, string>> = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
};

export const HTTP_CONNECTION_MANAGER_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_FILTER_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
];

/** The messages the server encodes: its responses and the resources inside them, by full name. */
export type MessageName =
  | 'envoy.service.discovery.v3.DiscoveryResponse'
  | 'envoy.config.listener.v3.Listener'
  | 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'
  | 'envoy.config.route.v3.RouteConfiguration'
  | 'envoy.config.cluster.v3.Cluster'
  | 'envoy.config.endpoint.v3.ClusterLoadAssignment';

export interface XdsProtos {
  /** For reflection: the file descriptors of every type the service and its resources use. */
  readonly packageDefinition: PackageDefinition;
  readonly adsService: ServiceDefinition;
  /** Encodes a message given as an object with the proto's field names. */
  encode(type: MessageName, message: Record<string, unknown>): Buffer;
  /** Decodes a message into an object with the proto's field names (enums as names); for tests and tools. */
  decode(type: MessageName | string, bytes: Uint8Array): Record<string, unknown>;
}

/** The include directories of the protos inside @grpc/grpc-js-xds. */
export function xdsProtoDirectories(): string[] {
  const packageRoot = dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((folder) => join(packageRoot, 'deps', folder));
}

/** How requests decode, as proto-loader would with the options used everywhere here (grpc.ts). */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

let loaded: XdsProtos | undefined;

/** StreamAggregatedResources without its serializers: what a server needs to know of it before any call. */
const ADS_METHOD_SHAPE = {
  path: `/${ADS_SERVICE}/StreamAggregatedResources`,
  originalName: 'streamAggregatedResources',
  requestStream: true,
  responseStream: true,
} as const;

/**
 * The xDS protos, loaded on first use: the first ADS message (de)serialized
 * or resource encoded. Until then the server knows the ADS method by its path
 * alone. They cost about 6 MB of RSS and a quarter of a second to load (once
 * per process; `onLoad` hears how long it took), which a lookaside no xDS
 * client talks to never pays.
 */
export function lazyXdsProtos(onLoad?: (loadMs: number) => void): XdsProtos {
  let protos: XdsProtos | undefined;
  const get = (): XdsProtos => {
    if (protos === undefined) {
      const startedAtMs = performance.now();
      protos = loadXdsProtos();
      onLoad?.(performance.now() - startedAtMs);
    }
    return protos;
  };
  const ads = (): MethodDefinition<unknown, unknown> => get().adsService['StreamAggregatedResources'] as MethodDefinition<unknown, unknown>;
  const method: MethodDefinition<unknown, unknown> = {
    ...ADS_METHOD_SHAPE,
    requestSerialize: (value) => ads().requestSerialize(value),
    requestDeserialize: (bytes) => ads().requestDeserialize(bytes),
    responseSerialize: (value) => ads().responseSerialize(value),
    responseDeserialize: (bytes) => ads().responseDeserialize(bytes),
  };
  return {
    get packageDefinition() {
      return get().packageDefinition;
    },
    adsService: { StreamAggregatedResources: method },
    encode: (type, message) => get().encode(type, message),
    decode: (type, bytes) => get().decode(type, bytes),
  };
}

/**
 * Loads the protos once per process (about a quarter of a second) into one
 * protobufjs Root that serves three purposes: the service's serializers, the
 * resources' encoders, and the file descriptors for reflection. (proto-loader
 * would build a second copy of every type and a descriptor object per type:
 * some 10 MB more for the envoy protos.) The well-known types come from
 * protobufjs, with the ones proto-loader registers on import (descriptor.proto).
 */
export function loadXdsProtos(): XdsProtos {
  if (loaded !== undefined) return loaded;
  const directories = xdsProtoDirectories();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => directories.map((directory) => join(directory, target)).find((path) => existsSync(path)) ?? target;
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  const types = new Map<string, protobuf.Type>();
  const typeNamed = (name: string): protobuf.Type => {
    let type = types.get(name);
    if (type === undefined) {
      type = root.lookupType(name);
      types.set(name, type);
    }
    return type;
  };
  const request = typeNamed('envoy.service.discovery.v3.DiscoveryRequest');
  const response = typeNamed('envoy.service.discovery.v3.DiscoveryResponse');
  const method = {
    ...ADS_METHOD_SHAPE,
    requestSerialize: (value: unknown) => Buffer.from(request.encode(request.fromObject(value as Record<string, unknown>)).finish()),
    requestDeserialize: (bytes: Buffer) => request.toObject(request.decode(bytes), TO_OBJECT),
    responseSerialize: (value: unknown) => Buffer.from(response.encode(response.fromObject(value as Record<string, unknown>)).finish()),
    responseDeserialize: (bytes: Buffer) => response.toObject(response.decode(bytes), TO_OBJECT),
  };
  const adsService: ServiceDefinition = { StreamAggregatedResources: method };
  const files = (root.toDescriptor('proto3') as unknown as { file: unknown[] }).file.map((file) =>
    Buffer.from(descriptor.FileDescriptorProto.encode(file as protobuf.Message).finish()),
  );
  loaded = {
    // Reflection reads only `fileDescriptorProtos` (src/common/grpc.ts addReflection).
    packageDefinition: { [ADS_SERVICE]: { ...adsService, fileDescriptorProtos: files } } as unknown as PackageDefinition,
    adsService,
    encode: (name, message) => {
      const type = typeNamed(name);
      return Buffer.from(type.encode(type.fromObject(message)).finish());
    },
    decode: (name, bytes) => typeNamed(name).toObject(typeNamed(name).decode(bytes), { enums: String, longs: String, defaults: false }),
  };
  return loaded;
}
