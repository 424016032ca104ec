import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and key, as files. */
export interface IssuedFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Certificates made at test time with openssl in a temporary directory (no
 * private key is committed): CAs, and server or client certificates they sign.
 */
export class TestCertificates {
  private count = 0;

  private constructor(readonly directory: string) {}

  static async create(): Promise<TestCertificates> {
    return new TestCertificates(await mkdtemp(join(tmpdir(), 'lookaside-tls-')));
  }

  /** A self-signed CA; its files are `<name>.crt` and `<name>.key`. */
  async ca(name: string): Promise<IssuedFiles> {
    const files = this.filesOf(name);
    await openssl(['req', '-x509', ...NEW_EC_KEY, '-keyout', files.keyFile, '-out', files.certFile, '-subj', `/CN=${name}`, '-days', '2']);
    return files;
  }

  /**
   * A certificate signed by `ca`: for a server, valid for localhost and
   * 127.0.0.1 (what tests dial); for a client, with the client usage.
   */
  async issue(ca: IssuedFiles, name: string, usage: 'server' | 'client'): Promise<IssuedFiles> {
    const files = this.filesOf(name);
    const request = join(this.directory, `${name}.csr`);
    const extensions = join(this.directory, `${name}.ext`);
    const extension =
      usage === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
    await writeFile(extensions, extension);
    await openssl(['req', ...NEW_EC_KEY, '-keyout', files.keyFile, '-out', request, '-subj', `/CN=${name}`]);
    this.count += 1;
    await openssl(['x509', '-req', '-in', request, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(this.count), '-days', '2', '-extfile', extensions, '-out', files.certFile]);
    return files;
  }

  /** The SHA-256 fingerprint of a certificate file, as node:tls reports a peer's (`fingerprint256`). */
  async fingerprint(certFile: string): Promise<string> {
    const { X509Certificate } = await import('node:crypto');
    return new X509Certificate(await readFile(certFile)).fingerprint256;
  }

  remove(): Promise<void> {
    return rm(this.directory, { recursive: true, force: true });
  }

  private filesOf(name: string): IssuedFiles {
    return { certFile: join(this.directory, `${name}.crt`), keyFile: join(this.directory, `${name}.key`) };
  }
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: readonly string[]): Promise<void> {
  await run('openssl', args);
}

/**
 * A directory laid out as the kubelet lays out a Secret volume: each file is
 * a symlink `name -> ..data/name`, `..data` a symlink to a timestamped
 * directory, and an update writes a new directory and swaps `..data` in one
 * rename (so the files change all at once, in place).
 */
export class SecretVolume {
  private version = 0;

  private constructor(readonly directory: string) {}

  /** A volume at `directory` (created) holding copies of `files` (volume file name -> source path). */
  static async create(directory: string, files: Readonly<Record<string, string>>): Promise<SecretVolume> {
    await mkdir(directory, { recursive: true });
    const volume = new SecretVolume(directory);
    await volume.update(files);
    for (const name of Object.keys(files)) await symlink(join('..data', name), join(directory, name));
    return volume;
  }

  /** The path of a file in the volume, as a pod sees it. */
  path(name: string): string {
    return join(this.directory, name);
  }

  /** Replaces every file at once with copies of `files`, as the kubelet does when the Secret changes. */
  async update(files: Readonly<Record<string, string>>): Promise<void> {
    this.version += 1;
    const version = `..v${this.version}`;
    await mkdir(join(this.directory, version));
    for (const [name, source] of Object.entries(files)) await copyFile(source, join(this.directory, version, name));
    await symlink(version, join(this.directory, '..data_tmp'));
    await rename(join(this.directory, '..data_tmp'), join(this.directory, '..data'));
  }
}
