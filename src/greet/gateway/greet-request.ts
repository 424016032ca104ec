import type { IncomingHttpHeaders } from 'node:http';

import type { GreetRequest } from '../api.js';
import { checkName } from '../names.js';

/** Two names of 256 characters fit many times over. */
export const MAX_BODY_BYTES = 16 * 1024;

/** An HTTP error as the edge sends it: `{"error": {"code", "message"}}` with `status`. */
export interface HttpProblem {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: HttpProblem };

/** Checks the headers of `POST /greet` before the body is read. */
export function checkGreetHeaders(headers: IncomingHttpHeaders): HttpProblem | undefined {
  const contentType = headers['content-type'];
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    return {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `send the body as JSON with "content-type: application/json"${contentType === undefined ? '' : `, not "${contentType.slice(0, 100)}"`}`,
    };
  }
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: `content-encoding "${encoding.slice(0, 50)}" is not supported; send the body uncompressed` };
  }
  const length = headers['content-length'];
  if (length !== undefined && Number(length) > MAX_BODY_BYTES) {
    return bodyTooLarge();
  }
  return undefined;
}

export function bodyTooLarge(): HttpProblem {
  return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `the body must be at most ${MAX_BODY_BYTES} bytes` };
}

/** Parses and checks the JSON body `{"first_name": "…", "last_name": "…"}`; other fields are ignored. */
export function parseGreetBody(text: string): Parsed<GreetRequest> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return invalid('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return invalid('INVALID_ARGUMENT', 'the body must be a JSON object: {"first_name": "…", "last_name": "…"}');
  }
  const fields = body as Record<string, unknown>;
  const problem = checkName('first_name', fields['first_name']) ?? checkName('last_name', fields['last_name']);
  if (problem !== undefined) return invalid('INVALID_ARGUMENT', problem);
  return { ok: true, value: { first_name: fields['first_name'] as string, last_name: fields['last_name'] as string } };
}

function invalid(code: string, message: string): Parsed<never> {
  return { ok: false, problem: { status: 400, code, message } };
}
