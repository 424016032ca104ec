import type { XdsBootstrap } from './config.js';

/**
 * Readies grpc-js for `xds:` targets: registers grpc-js-xds (loaded only in
 * this mode) and makes sure it reads `bootstrap`. grpc-js-xds takes its
 * bootstrap from GRPC_XDS_BOOTSTRAP, else GRPC_XDS_BOOTSTRAP_CONFIG, once per
 * process; a generated bootstrap is handed over through the second, as a
 * deployment would. A process whose environment already names another
 * bootstrap is refused rather than silently using that one.
 */
export async function prepareXdsChannels(bootstrap: XdsBootstrap, environment: NodeJS.ProcessEnv = process.env): Promise<void> {
  const file = environment['GRPC_XDS_BOOTSTRAP'];
  const inline = environment['GRPC_XDS_BOOTSTRAP_CONFIG'];
  if (file !== undefined && file !== '') {
    if (bootstrap.source !== 'GRPC_XDS_BOOTSTRAP') throw new Error(`this process's GRPC_XDS_BOOTSTRAP (${file}) would override the gateway's xDS bootstrap`);
  } else if (inline === undefined || inline === '') {
    environment['GRPC_XDS_BOOTSTRAP_CONFIG'] = bootstrap.text;
  } else if (inline.trim() !== bootstrap.text) {
    // The config read it trimmed (a YAML block scalar ends in a newline); the JSON is the same.
    throw new Error("this process's GRPC_XDS_BOOTSTRAP_CONFIG differs from the gateway's xDS bootstrap (grpc-js-xds reads one per process)");
  }
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
}
