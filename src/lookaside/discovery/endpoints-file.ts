import { isIP } from 'node:net';

import { parse as parseYaml } from 'yaml';

import { serviceKeyString } from './types.js';
import type { SliceInput } from './slices.js';
import { splitIpPort } from '../../common/addresses.js';
import { documentFields } from '../../common/document-fields.js';
import type { GrpcRoute } from '../routing/grpc-route.js';
import { parseFileRoutes } from '../routing/file-routes.js';

/**
 * The endpoints file of `DISCOVERY=file` (YAML, or the same shape in JSON):
 *
 *     services:
 *       - namespace: default
 *         name: greetserver
 *         endpoints:
 *           - { address: "127.0.0.1:50051", pod: greet-0, zone: local-a }
 *           - { address: "127.0.0.1:50052", pod: greet-1, ready: false }
 *
 * Optional per endpoint: `node`, `terminating`, `port_name`. Each endpoint
 * becomes a one-endpoint slice so the file goes through the same merge as
 * Kubernetes EndpointSlices. An optional `routes` list holds GRPCRoutes
 * (routing/file-routes.ts).
 */
export interface EndpointsFileContent {
  /** How many Services the file lists. */
  readonly size: number;
  has(serviceId: string): boolean;
  /** The slices of a Service (`namespace/name`), or undefined when the file does not list it. */
  get(serviceId: string): readonly SliceInput[] | undefined;
  /** The file's `routes` (none when it has no such list). */
  readonly routes?: readonly GrpcRoute[];
}

/** The parsed file: each Service's slices by `namespace/name`, and its routes. */
export class ParsedEndpointsFile extends Map<string, readonly SliceInput[]> {
  routes: readonly GrpcRoute[] = [];
}

export class EndpointsFileError extends Error {
  override name = 'EndpointsFileError';
}

const { asObject, requireString, optionalString, optionalBoolean } = documentFields((message) => new EndpointsFileError(message));

/**
 * The file has no `services` list at all: empty, only comments, or cut off
 * before the list (a write caught half-way). It never means "no Services";
 * `services: []` says that.
 */
export class NoServicesError extends EndpointsFileError {
  override name = 'NoServicesError';
  constructor() {
    super('has no "services" list (the file is empty, only comments, or cut off); write "services: []" for no Services');
  }
}

export function parseEndpointsFile(text: string): ParsedEndpointsFile {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    throw new EndpointsFileError(`not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) throw new NoServicesError();
  const root = asObject(document, 'the file');
  const services = root['services'];
  if (services === undefined || services === null) throw new NoServicesError();
  if (!Array.isArray(services)) throw new EndpointsFileError('services: must be a list');

  const content = new ParsedEndpointsFile();
  content.routes = parseFileRoutes(root['routes'], (message) => new EndpointsFileError(message));
  services.forEach((entry: unknown, serviceIndex) => {
    const where = `services[${serviceIndex}]`;
    const service = asObject(entry, where);
    const name = requireString(service, 'name', where);
    const namespace = optionalString(service, 'namespace', where) ?? 'default';
    const endpoints = service['endpoints'] ?? [];
    if (!Array.isArray(endpoints)) throw new EndpointsFileError(`${where}.endpoints: must be a list`);
    const id = serviceKeyString({ namespace, name });
    if (content.has(id)) throw new EndpointsFileError(`${where}: ${id} is listed twice`);
    content.set(
      id,
      endpoints.map((item: unknown, endpointIndex) => toSlice(item, `${where}.endpoints[${endpointIndex}]`)),
    );
  });
  return content;
}

function toSlice(item: unknown, where: string): SliceInput {
  const endpoint = asObject(item, where);
  const { ip, port } = parseAddress(requireString(endpoint, 'address', where), `${where}.address`);
  const pod = optionalString(endpoint, 'pod', where);
  return {
    addressType: isIP(ip) === 6 ? 'IPv6' : 'IPv4',
    ports: [{ name: optionalString(endpoint, 'port_name', where) ?? '', port }],
    endpoints: [
      {
        addresses: [ip],
        conditions: {
          ready: optionalBoolean(endpoint, 'ready', where) ?? true,
          terminating: optionalBoolean(endpoint, 'terminating', where) ?? false,
        },
        targetRef: pod === undefined ? null : { kind: 'Pod', name: pod },
        zone: optionalString(endpoint, 'zone', where) ?? null,
        nodeName: optionalString(endpoint, 'node', where) ?? null,
      },
    ],
  };
}

function parseAddress(address: string, where: string): { ip: string; port: number } {
  const split = splitIpPort(address);
  if (split === undefined) {
    throw new EndpointsFileError(
      `${where}: ${JSON.stringify(address)} is not "ip:port" (an IPv4 or [IPv6] address and a port from 1 to 65535)`,
    );
  }
  return { ip: split.ip, port: split.port };
}
