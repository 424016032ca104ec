import { parentPort, workerData } from 'node:worker_threads';

import { NoServicesError, parseEndpointsFile } from './endpoints-file.js';
import type { ParserAnswer } from './endpoints-file-thread.js';

/** The parser thread's body: parse the text it was given, post one answer, end. */
const { text } = workerData as { text: string };
let answer: ParserAnswer;
try {
  answer = { ok: true, content: parseEndpointsFile(text) };
} catch (error) {
  answer = { ok: false, noServices: error instanceof NoServicesError, message: (error as Error).message };
}
parentPort?.postMessage(answer);
