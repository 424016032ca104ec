import { parentPort, workerData } from 'node:worker_threads';

import { NoServicesError, parseEndpointsFile } from './endpoints-file.js';
import type { ParserAnswer } from './endpoints-file-thread.js';

/** The parser thread's body: parse the text it was given, post one answer, end. */
const { text } = workerData as { text: string };
let answer: ParserAnswer;
try {
  // One JSON text per Service: the main thread copies a few strings instead of
  // rebuilding every endpoint object, and parses only the Services it follows.
  const parsed = parseEndpointsFile(text);
  answer = { ok: true, services: [...parsed].map(([id, slices]) => [id, JSON.stringify(slices)]), routes: JSON.stringify(parsed.routes) };
} catch (error) {
  answer = { ok: false, noServices: error instanceof NoServicesError, message: (error as Error).message };
}
parentPort?.postMessage(answer);
