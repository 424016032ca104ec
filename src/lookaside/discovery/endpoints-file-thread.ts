import { Worker } from 'node:worker_threads';

import { EndpointsFileError, NoServicesError, type EndpointsFileContent } from './endpoints-file.js';

/**
 * The most heap a parse may use. The YAML parser needs about 120 MB for a file
 * at ENDPOINTS_FILE_MAX_BYTES; past this the parse fails instead of the pod
 * running out of memory.
 */
const PARSER_HEAP_LIMIT_MB = 256;

/** What the parser thread posts back: the content, or why the file was refused. */
export type ParserAnswer =
  | { readonly ok: true; readonly content: EndpointsFileContent }
  | { readonly ok: false; readonly noServices: boolean; readonly message: string };

/**
 * Parses an endpoints file in a worker thread, so the event loop keeps
 * answering Resolve while a large file is read (the YAML parser takes about
 * 2 s and 120 MB for 1 MiB). A fresh thread per file: reloads are rare, and
 * the parser's memory goes away with the thread. Rejects with the same
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
      if (answer.ok) resolve(answer.content);
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
