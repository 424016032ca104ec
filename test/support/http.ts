import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

/**
 * One HTTP/1.1 request to 127.0.0.1, with full control over headers and body
 * (fetch would add or refuse some of the malformed inputs the tests need).
 */
export function httpCall(
  port: number,
  method: string,
  path: string,
  options: { headers?: OutgoingHttpHeaders; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: options.headers ?? {}, timeout: options.timeoutMs ?? 10_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer to ${method} ${path} within the timeout`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

export const GREETING = { first_name: 'Ada', last_name: 'Lovelace' };

/** `POST /greet` with a JSON body. */
export function postGreet(port: number, body: unknown = GREETING): Promise<HttpAnswer> {
  return httpCall(port, 'POST', '/greet', {
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/**
 * Sends `count` greetings, `concurrency` at a time, failing on any non-200;
 * returns how many each pod answered, keyed by pod name in sorted order.
 */
export async function greetingsPerPod(port: number, count: number, concurrency = 1): Promise<Record<string, number>> {
  const perPod = new Map<string, number>();
  let left = count;
  const worker = async (): Promise<void> => {
    while (left > 0) {
      left -= 1;
      const answer = await postGreet(port);
      if (answer.status !== 200) throw new Error(`greeting failed with ${answer.status}: ${answer.text}`);
      const pod = String(answer.json?.['pod_name']);
      perPod.set(pod, (perPod.get(pod) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Object.fromEntries([...perPod].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Sums the samples of one metric in a Prometheus text page whose labels
 * include all of `labels`; 0 when none match.
 */
export function metricValue(page: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const present = new Map<string, string>();
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      present.set(pair[1] as string, pair[2] as string);
    }
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) sum += Number(match[4]);
  }
  return sum;
}

/** Fetches `/metrics` from a port. */
export async function scrape(port: number): Promise<string> {
  const answer = await httpCall(port, 'GET', '/metrics');
  if (answer.status !== 200) throw new Error(`GET /metrics on ${port} answered ${answer.status}`);
  return answer.text;
}
