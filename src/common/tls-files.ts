import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { ConfigError } from './config.js';

/** A PEM file named by an environment variable, so that every problem names the variable. */
export interface PemFile {
  readonly variable: string;
  readonly path: string;
}

/** A certificate (chain) and its private key, read and checked. */
export interface KeyPair {
  /** PEM: the leaf certificate first, then any intermediates. */
  readonly cert: string;
  readonly key: string;
}

/*
 * Synchronous reads: the files are a few KB, read at start-up, on a rotation,
 * or when the gateway opens a connection to the lookaside.
 */

/** The text of `file`; a ConfigError naming its variable when it cannot be read. */
export function readPem(file: PemFile): string {
  try {
    return readFileSync(file.path, 'utf8');
  } catch (error) {
    throw new ConfigError(file.variable, `cannot read ${file.path}: ${(error as Error).message}`);
  }
}

/** Reads certificates (a CA bundle, say); a ConfigError when the file holds none or a broken one. */
export function readCertificates(file: PemFile): string {
  const text = readPem(file);
  parseCertificates(file, text);
  return text;
}

/**
 * Reads a certificate and its private key, and checks that they belong
 * together, so that a mismatch fails start-up (or a reload) here rather than
 * every handshake later.
 */
export function readKeyPair(certFile: PemFile, keyFile: PemFile): KeyPair {
  const cert = readPem(certFile);
  const key = readPem(keyFile);
  const [leaf] = parseCertificates(certFile, cert);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new ConfigError(keyFile.variable, `${keyFile.path} holds no usable PEM private key: ${(error as Error).message}`);
  }
  if (leaf === undefined || !leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(keyFile.variable, `the key in ${keyFile.path} does not match the certificate in ${certFile.variable} (${certFile.path})`);
  }
  return { cert, key };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function parseCertificates(file: PemFile, text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(file.variable, `${file.path} holds no PEM certificate`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(file.variable, `certificate ${index + 1} in ${file.path} is broken: ${(error as Error).message}`);
    }
  });
}
