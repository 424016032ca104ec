import { parentPort } from 'node:worker_threads';

import { ADS_SERVICE, loadXdsProtos } from './xds-protos.js';

/** The descriptor thread's body: load the xDS protos, post their encoded file descriptors, end. */
const definition = loadXdsProtos().packageDefinition[ADS_SERVICE] as unknown as { fileDescriptorProtos: Buffer[] };
parentPort?.postMessage(definition.fileDescriptorProtos.map((file) => new Uint8Array(file)));
