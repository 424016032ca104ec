import { createServer, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

import type { Logger } from '../common/logging.js';
import { readCertificates, readKeyPair, type PemFile } from '../common/tls-files.js';
import { FileChanges, fileIdentity, type FileChangeOptions } from './discovery/file-changes.js';

/** The files of TLS_CERT_FILE, TLS_KEY_FILE and (mTLS) TLS_CLIENT_CA_FILE. */
export interface ServingTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: every client must present a certificate signed by one of these CAs. */
  readonly clientCaFile?: string;
}

/**
 * A TLS handshake must be done within this long, so that connections that
 * never finish one do not hold connection slots (node's default is 120 s).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Failed handshakes are logged at most this often (a scanner or a misconfigured client can fail many a second). */
const HANDSHAKE_FAILURE_LOG_INTERVAL_MS = 1_000;

export interface ServingTlsOptions extends FileChangeOptions {
  /** Told after each reload that put new files in service. */
  readonly onReloaded?: () => void;
}

/**
 * The lookaside's side of TLS: a node:tls server that does the handshakes
 * (grpc-listener hands it each accepted socket, and grpc-js gets the
 * decrypted one), its certificate reloaded when the files change. Kubernetes
 * Secret volumes and cert-manager replace the files in place (a symlink
 * swap); each reload makes a new secure context that new handshakes use,
 * while open connections keep theirs and are not dropped. A reload that
 * fails (files half-written, key and certificate not matching yet) is logged
 * and the last good certificate stays in service.
 */
export class ServingTls {
  private readonly changes: FileChanges[];
  private reloading: Promise<void> = Promise.resolve();
  /** The files' identities when a reload last failed, so the poll does not log the same failure again and again. */
  private failedIdentities = '';
  /** The files' identities when they were last put in service: a change event that finds the same files does nothing. */
  private loadedIdentities: string;
  private lastFailureLogMs = Number.NEGATIVE_INFINITY;
  private suppressedFailures = 0;

  private constructor(
    readonly server: TlsServer,
    private readonly files: ServingTlsFiles,
    private readonly pemFiles: readonly PemFile[],
    identities: readonly string[],
    private readonly logger: Logger,
    private readonly options: ServingTlsOptions,
  ) {
    this.loadedIdentities = identities.join('|');
    this.changes = pemFiles.map(
      (file, index) => new FileChanges(file.path, identities[index] ?? '', () => this.scheduleReload(), logger, options),
    );
    server.on('tlsClientError', (error, socket) => {
      // A client certificate that fails verification closes the socket with no error of its own (node sets authorizationError and destroys it).
      const refused = socket.authorizationError ?? null;
      this.onHandshakeFailed(refused === null ? error.message : `client certificate refused: ${String(refused)}`, socket.remoteAddress);
    });
  }

  /** Reads and checks the files; throws a ConfigError naming the variable of a missing or bad file. */
  static async open(files: ServingTlsFiles, logger: Logger, options: ServingTlsOptions = {}): Promise<ServingTls> {
    const pemFiles = pemFilesOf(files);
    const identities = await Promise.all(pemFiles.map((file) => fileIdentity(file.path)));
    const context = readContext(files);
    const mutual = files.clientCaFile !== undefined;
    const server = createServer({
      ...context,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      requestCert: mutual,
      rejectUnauthorized: mutual,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    return new ServingTls(server, files, pemFiles, identities, logger, options);
  }

  close(): void {
    for (const changes of this.changes) changes.close();
  }

  private scheduleReload(): void {
    this.reloading = this.reloading.then(() => this.reload());
  }

  private async reload(): Promise<void> {
    const files = this.pemFiles;
    const identities = await Promise.all(files.map((file) => fileIdentity(file.path)));
    const joined = identities.join('|');
    if (joined === this.loadedIdentities) return;
    let context: SecureContextOptions;
    try {
      context = readContext(this.files);
      this.server.setSecureContext(context);
    } catch (error) {
      if (joined !== this.failedIdentities) this.logger.warn({ err: (error as Error).message }, 'cannot reload the TLS files; the previous certificate stays in service');
      this.failedIdentities = joined;
      return;
    }
    this.failedIdentities = '';
    this.loadedIdentities = joined;
    identities.forEach((identity, index) => this.changes[index]?.noteRead(identity));
    this.logger.info({ files: files.map((file) => file.path) }, 'TLS files reloaded; new connections use them');
    this.options.onReloaded?.();
  }

  private onHandshakeFailed(reason: string, client: string | undefined): void {
    const nowMs = performance.now();
    if (nowMs - this.lastFailureLogMs < HANDSHAKE_FAILURE_LOG_INTERVAL_MS) {
      this.suppressedFailures += 1;
      return;
    }
    this.lastFailureLogMs = nowMs;
    this.logger.warn({ err: reason, client, suppressedSinceLast: this.suppressedFailures }, 'TLS handshake failed');
    this.suppressedFailures = 0;
  }
}

const VARIABLES = { certFile: 'TLS_CERT_FILE', keyFile: 'TLS_KEY_FILE', clientCaFile: 'TLS_CLIENT_CA_FILE' } as const;

function pemFilesOf(files: ServingTlsFiles): PemFile[] {
  const pemFiles: PemFile[] = [
    { variable: VARIABLES.certFile, path: files.certFile },
    { variable: VARIABLES.keyFile, path: files.keyFile },
  ];
  if (files.clientCaFile !== undefined) pemFiles.push({ variable: VARIABLES.clientCaFile, path: files.clientCaFile });
  return pemFiles;
}

function readContext(files: ServingTlsFiles): SecureContextOptions {
  const pair = readKeyPair({ variable: VARIABLES.certFile, path: files.certFile }, { variable: VARIABLES.keyFile, path: files.keyFile });
  if (files.clientCaFile === undefined) return pair;
  return { ...pair, ca: readCertificates({ variable: VARIABLES.clientCaFile, path: files.clientCaFile }) };
}
