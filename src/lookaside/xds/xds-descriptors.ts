import { Worker } from 'node:worker_threads';

import type { PackageDefinition } from '@grpc/proto-loader';

import { ADS_SERVICE } from './xds-protos.js';

/**
 * The file descriptors reflection needs for the ADS service, read from the
 * xDS protos in a worker thread. Reflection must list the service from the
 * start, but the protobufjs Root that serves ADS costs about 6 MB of RSS and a
 * quarter of a second: built in a thread, it goes away with it, and the main
 * thread keeps only the encoded files (lazyXdsProtos builds its own Root when
 * the first ADS stream needs it).
 */
export function xdsDescriptorsOffThread(): Promise<PackageDefinition> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./xds-descriptors-worker.js', import.meta.url));
    let answered = false;
    worker.once('message', (files: Uint8Array[]) => {
      answered = true;
      const fileDescriptorProtos = files.map((file) => Buffer.from(file.buffer, file.byteOffset, file.byteLength));
      // Reflection reads only `fileDescriptorProtos` (src/common/grpc.ts addReflection).
      resolve({ [ADS_SERVICE]: { fileDescriptorProtos } } as unknown as PackageDefinition);
    });
    worker.once('error', (error: Error) => {
      answered = true;
      reject(new Error(`reading the xDS protos failed: ${error.message}`));
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the xDS proto thread exited with code ${code} without an answer`));
    });
  });
}
