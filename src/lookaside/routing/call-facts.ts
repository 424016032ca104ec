import { quoteInput } from '../validation.js';

/** What a ResolveRequest may say about its call, so a request cannot make the lookaside hold or scan much. */
export const MAX_CALL_HEADERS = 16;
export const MAX_HEADER_NAME_BYTES = 256;
export const MAX_HEADER_VALUE_BYTES = 256;
export const MAX_METHOD_BYTES = 512;

const METHOD_NAME = /^\/[^/\s]+\/[^/\s]+$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * What is wrong with the call's method and headers as a request gives them
 * (lookaside.v1 ResolveRequest.method and .headers), or undefined when they
 * are fine. Header names must be lowercase, as HTTP/2 sends them.
 */
export function checkCallFacts(method: string | undefined, headers: Readonly<Record<string, string>> | undefined): string | undefined {
  if (method !== undefined && method !== '') {
    if (method.length > MAX_METHOD_BYTES) return `method is longer than ${MAX_METHOD_BYTES} characters`;
    if (!METHOD_NAME.test(method)) return `method ${quoteInput(method)} is not a full method name "/<package>.<Service>/<Method>"`;
  }
  if (headers === undefined) return undefined;
  let count = 0;
  for (const name in headers) {
    count++;
    if (count > MAX_CALL_HEADERS) return `headers: at most ${MAX_CALL_HEADERS} headers (send only those the Service's routes match on)`;
    if (name.length > MAX_HEADER_NAME_BYTES || !HEADER_NAME.test(name)) {
      return `headers: ${quoteInput(name)} is not a lowercase header name of at most ${MAX_HEADER_NAME_BYTES} characters (no pseudo-headers)`;
    }
    if ((headers[name] as string).length > MAX_HEADER_VALUE_BYTES) return `headers: the value of ${quoteInput(name)} is longer than ${MAX_HEADER_VALUE_BYTES} characters`;
  }
  return undefined;
}
