// Certificates for the TLS tests, made with the openssl CLI: a CA, and
// server or client certificates it signs. EC P-256 keys (fast to make).
//
//   const ca = makeCa(dir, 'ca');
//   const server = makeCert(dir, 'server', ca, { cn: 'localhost', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
//   const client = makeCert(dir, 'client', ca, { cn: 'prometheus', client: true });
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyPair {
  /** Paths of the PEM files. */
  cert: string;
  key: string;
  /** The certificate's SHA-256 fingerprint, as node:tls reports it (fingerprint256). */
  fingerprint: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function fingerprintOf(certPath: string): string {
  return new X509Certificate(readFileSync(certPath)).fingerprint256;
}

export function makeCa(dir: string, name: string): KeyPair {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key, fingerprint: fingerprintOf(cert) };
}

export interface CertOptions {
  cn: string;
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1']. */
  sans?: string[];
  /** A client certificate (extendedKeyUsage clientAuth) rather than a server one. */
  client?: boolean;
}

/** A key and a certificate signed by ca, written as dir/name.crt and dir/name.key. */
export function makeCert(dir: string, name: string, ca: KeyPair, opts: CertOptions): KeyPair {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${opts.cn}`,
  ]);
  const lines = [`extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`, 'basicConstraints=CA:FALSE'];
  if (opts.sans && opts.sans.length > 0) lines.push(`subjectAltName=${opts.sans.join(',')}`);
  writeFileSync(ext, `${lines.join('\n')}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key, fingerprint: fingerprintOf(cert) };
}

export const LOCALHOST_SANS = ['DNS:localhost', 'IP:127.0.0.1'];
