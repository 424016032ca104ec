import { isIP } from 'node:net';

/**
 * The one home of the network-name rules every program shares: `host:port`
 * with IPv6 in brackets, and Kubernetes' RFC 1123 names.
 */

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;
const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL_LENGTH = 63;
/** A DNS name: labels of letters, digits and '-', joined by dots (case-insensitive). */
const DNS_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** `host:port`; an IPv6 address goes in brackets (`[fd00::1]:80`). */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 || host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits `host:port` or `[ipv6]:port`; undefined unless the port is 1–65535 and an IPv6 host is bracketed. */
export function splitHostPort(text: string): { readonly host: string; readonly port: number } | undefined {
  const match = HOST_PORT.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  const port = Number(match[3]);
  return port >= 1 && port <= 65_535 ? { host, port } : undefined;
}

/** Splits `ip:port` or `[ipv6]:port` whose host is an IP address (never a name). */
export function splitIpPort(text: string): { readonly ip: string; readonly port: number } | undefined {
  const split = splitHostPort(text);
  return split === undefined || isIP(split.host) === 0 ? undefined : { ip: split.host, port: split.port };
}

/** Kubernetes names of Services and namespaces: lower-case RFC 1123 labels of at most 63 characters. */
export function isRfc1123Label(value: string): boolean {
  return value.length <= MAX_LABEL_LENGTH && RFC1123_LABEL.test(value);
}

/** A host name (dotted DNS labels) or an IP address. */
export function isHostName(value: string): boolean {
  return isIP(value) !== 0 || (value.length <= 253 && DNS_NAME.test(value));
}
