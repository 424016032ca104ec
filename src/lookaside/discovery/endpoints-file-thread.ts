import { Worker } from 'node:worker_threads';

import { EndpointsFileError, NoServicesError, type EndpointsFileContent } from './endpoints-file.js';
import type { SliceInput } from './slices.js';
import type { GrpcRoute } from '../routing/grpc-route.js';

/**
 * The most old-generation heap a parse may use. A file at
 * ENDPOINTS_FILE_MAX_BYTES needs 64–96 MB (measured, sparse or dense); past
 * this limit the parse fails instead of the pod running out of memory.
 */
const PARSER_HEAP_LIMIT_MB = 128;

/** What the parser thread posts back: each Service's slices as JSON, or why the file was refused. */
export type ParserAnswer =
  | { readonly ok: true; readonly services: ReadonlyArray<readonly [string, string]>; readonly routes: string }
  | { readonly ok: false; readonly noServices: boolean; readonly message: string };

/** Content whose Services are turned back into objects when first asked for. */
class SerializedContent implements EndpointsFileContent {
  private readonly json: ReadonlyMap<string, string>;
  private readonly parsed = new Map<string, readonly SliceInput[]>();

  constructor(
    services: ReadonlyArray<readonly [string, string]>,
    readonly routes: readonly GrpcRoute[],
  ) {
    this.json = new Map(services);
  }

  get size(): number {
    return this.json.size;
  }

  has(serviceId: string): boolean {
    return this.json.has(serviceId);
  }

  get(serviceId: string): readonly SliceInput[] | undefined {
    let slices = this.parsed.get(serviceId);
    if (slices === undefined) {
      const json = this.json.get(serviceId);
      if (json === undefined) return undefined;
      slices = JSON.parse(json) as SliceInput[];
      this.parsed.set(serviceId, slices);
    }
    return slices;
  }
}

/**
 * Parses an endpoints file in a worker thread, so the event loop keeps
 * answering Resolve while a large file is read (the YAML parser takes over a
 * second for 1 MiB). A fresh thread per file: reloads are rare, and the
 * parser's memory goes away with the thread. Rejects with the same
 * EndpointsFileError (or NoServicesError) the parser throws.
 */
export function parseEndpointsFileOffThread(text: string): Promise<EndpointsFileContent> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./endpoints-file-worker.js', import.meta.url), {
      workerData: { text },
      resourceLimits: { maxOldGenerationSizeMb: PARSER_HEAP_LIMIT_MB },
    });
    let answered = false;
    worker.once('message', (answer: ParserAnswer) => {
      answered = true;
      if (answer.ok) resolve(new SerializedContent(answer.services, JSON.parse(answer.routes) as GrpcRoute[]));
      else reject(answer.noServices ? new NoServicesError() : new EndpointsFileError(answer.message));
    });
    worker.once('error', (error: Error) => {
      answered = true;
      reject(new EndpointsFileError(`the parser failed: ${error.message}`));
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new EndpointsFileError(`the parser thread exited with code ${code} without an answer`));
    });
  });
}
