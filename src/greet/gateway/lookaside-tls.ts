import type { SecureClientSessionOptions } from 'node:http2';

import type { Logger } from '../../common/logging.js';
import { readCertificates, readKeyPair } from '../../common/tls-files.js';

/** LB_TLS_CA_FILE, LB_TLS_CERT_FILE and LB_TLS_KEY_FILE: how the gateway talks TLS to the lookaside. */
export interface LookasideTlsFiles {
  /** The CA that signed the lookaside's certificate; undefined = Node's built-in public CAs. */
  readonly caFile?: string;
  /** The gateway's own certificate and key, for a lookaside that requires one (mTLS); both or neither. */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
}

/**
 * Reads the files into node:tls options; throws a ConfigError naming the
 * variable of a missing or bad file (or of a key that does not match its
 * certificate).
 */
export function readLookasideTls(files: LookasideTlsFiles): SecureClientSessionOptions {
  const options: { ca?: string; cert?: string; key?: string } = {};
  if (files.caFile !== undefined) options.ca = readCertificates({ variable: 'LB_TLS_CA_FILE', path: files.caFile });
  if (files.clientCertFile !== undefined && files.clientKeyFile !== undefined) {
    const pair = readKeyPair({ variable: 'LB_TLS_CERT_FILE', path: files.clientCertFile }, { variable: 'LB_TLS_KEY_FILE', path: files.clientKeyFile });
    options.cert = pair.cert;
    options.key = pair.key;
  }
  return options;
}

/**
 * The TLS options of each new connection to the lookaside: the files are read
 * again every time, so a rotated certificate (a Secret volume's symlink swap)
 * is used from the next connection on. When they cannot be read (half-way
 * through a rotation, say), the last good options are used and the problem
 * logged. The first read happens here, so bad files fail start-up.
 */
export function lookasideTlsOptions(files: LookasideTlsFiles, logger: Logger): () => SecureClientSessionOptions {
  let lastGood = readLookasideTls(files);
  return () => {
    try {
      lastGood = readLookasideTls(files);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'cannot read the TLS files for the lookaside; using the previous ones');
    }
    return lastGood;
  };
}
