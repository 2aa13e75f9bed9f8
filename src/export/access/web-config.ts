// --web-config-file: the Prometheus exporter-toolkit web configuration (the
// format node_exporter and the rest of the ecosystem read), parsed and
// checked in full at start-up so that a mistake is one line and exit 2, never
// a listener that quietly serves in the clear.
//
//   tls_server_config:     cert_file, key_file, client_auth_type,
//                          client_ca_file, min_version, max_version,
//                          cipher_suites, prefer_server_cipher_suites,
//                          curve_preferences
//   http_server_config:    headers, http2 (accepted; this server speaks HTTP/1.1)
//   basic_auth_users:      user: bcrypt hash
//
// Relative file paths are relative to the web config file's directory, as in
// the exporter-toolkit. Go names (cipher suites, curves, TLS versions) are
// turned into what Node's OpenSSL takes; a name it cannot use is an error.
import { readFileOr } from '../../file-read.js';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse } from 'yaml';

export class WebConfigError extends Error {}

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

const TLS_VERSIONS: Record<string, TlsVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

/** Go's crypto/tls suite names (TLS 1.0-1.2) -> OpenSSL's. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_RC4_128_SHA: 'RC4-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: 'ECDHE-ECDSA-RC4-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: 'ECDHE-RSA-RC4-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // Go's older aliases of the two above.
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Go's curve names -> OpenSSL's group names. */
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/**
 * The security headers the exporter-toolkit allows, with the values it
 * allows (undefined: any value).
 */
const HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

export interface TlsServerConfig {
  certFile: string;
  keyFile: string;
  clientAuthType: ClientAuthType;
  clientCaFile?: string;
  minVersion: TlsVersion;
  maxVersion?: TlsVersion;
  /** OpenSSL cipher list for TLS 1.0-1.2; undefined = Node's default. TLS 1.3 suites are not configurable (as in Go). */
  ciphers?: string;
  honorCipherOrder: boolean;
  /** OpenSSL group list ("P-256:X25519"); undefined = Node's default. */
  ecdhCurve?: string;
}

export interface WebConfig {
  /** The file it was read from. */
  path: string;
  tls?: TlsServerConfig;
  /** user -> bcrypt hash; empty = no basic auth. */
  basicAuthUsers: Map<string, string>;
  /** Response headers on every answer. */
  headers: Record<string, string>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A mapping with only known keys; null/absent is an empty mapping. */
function section(value: unknown, where: string, known: readonly string[]): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) throw new WebConfigError(`${where} must be a mapping`);
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new WebConfigError(`unknown key ${where === 'the file' ? '' : `${where}.`}${key} (known: ${known.join(', ')})`);
  }
  return value;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new WebConfigError(`${where} must be a string`);
  return value;
}

function stringList(value: unknown, where: string): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new WebConfigError(`${where} must be a list of strings`);
  return value as string[];
}

function tlsVersion(value: unknown, where: string): TlsVersion | undefined {
  const text = optionalString(value, where);
  if (text === undefined) return undefined;
  const v = TLS_VERSIONS[text];
  if (v === undefined) throw new WebConfigError(`${where}: "${text}" is not a TLS version (${Object.keys(TLS_VERSIONS).join(', ')})`);
  return v;
}

/** Go suite names -> one OpenSSL cipher list, each checked against Node's OpenSSL. */
function cipherList(names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  const openssl = names.map((name) => {
    if (TLS13_SUITES.includes(name)) {
      throw new WebConfigError(
        `tls_server_config.cipher_suites: ${name} is a TLS 1.3 suite, which is not configurable (as in Go); list TLS 1.2 suites only`,
      );
    }
    const mapped = CIPHER_SUITES[name];
    if (mapped === undefined)
      throw new WebConfigError(
        `tls_server_config.cipher_suites: "${name}" is not a Go cipher suite name (example: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`,
      );
    try {
      createSecureContext({ ciphers: mapped });
    } catch {
      throw new WebConfigError(`tls_server_config.cipher_suites: ${name} (OpenSSL ${mapped}) is not available in this Node.js's OpenSSL`);
    }
    return mapped;
  });
  return openssl.join(':');
}

function curveList(names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  return names
    .map((name) => {
      const c = CURVES[name];
      if (c === undefined)
        throw new WebConfigError(`tls_server_config.curve_preferences: "${name}" is not one of ${Object.keys(CURVES).join(', ')}`);
      return c;
    })
    .join(':');
}

function readable(path: string, where: string): string {
  readFileOr(path, (why) => new WebConfigError(`${where} ${path}: ${why}`));
  return path;
}

function parseTls(value: unknown, dir: string): TlsServerConfig | undefined {
  if (value === null || value === undefined) return undefined;
  const s = section(value, 'tls_server_config', [
    'cert_file',
    'key_file',
    'client_auth_type',
    'client_ca_file',
    'min_version',
    'max_version',
    'cipher_suites',
    'prefer_server_cipher_suites',
    'curve_preferences',
  ]);
  const cert = optionalString(s.cert_file, 'tls_server_config.cert_file');
  const key = optionalString(s.key_file, 'tls_server_config.key_file');
  if (cert === undefined && key === undefined && Object.keys(s).length === 0) return undefined;
  if (cert === undefined) throw new WebConfigError('tls_server_config: cert_file is required');
  if (key === undefined) throw new WebConfigError('tls_server_config: key_file is required');
  const authText = optionalString(s.client_auth_type, 'tls_server_config.client_auth_type') ?? 'NoClientCert';
  if (!(CLIENT_AUTH_TYPES as readonly string[]).includes(authText)) {
    throw new WebConfigError(`tls_server_config.client_auth_type: "${authText}" is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  }
  const clientAuthType = authText as ClientAuthType;
  const ca = optionalString(s.client_ca_file, 'tls_server_config.client_ca_file');
  const verifies = clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert';
  if (verifies && ca === undefined) throw new WebConfigError(`tls_server_config: client_auth_type ${clientAuthType} needs client_ca_file`);
  if (ca !== undefined && clientAuthType === 'NoClientCert') {
    throw new WebConfigError(
      'tls_server_config: client_ca_file is set but client_auth_type is NoClientCert (set VerifyClientCertIfGiven or RequireAndVerifyClientCert)',
    );
  }
  const minVersion = tlsVersion(s.min_version, 'tls_server_config.min_version') ?? 'TLSv1.2';
  const maxVersion = tlsVersion(s.max_version, 'tls_server_config.max_version');
  if (maxVersion !== undefined && maxVersion < minVersion) {
    throw new WebConfigError('tls_server_config: max_version is below min_version');
  }
  const prefer = s.prefer_server_cipher_suites;
  if (prefer !== undefined && prefer !== null && typeof prefer !== 'boolean') {
    throw new WebConfigError('tls_server_config.prefer_server_cipher_suites must be true or false');
  }
  return {
    certFile: readable(resolve(dir, cert), 'tls_server_config.cert_file'),
    keyFile: readable(resolve(dir, key), 'tls_server_config.key_file'),
    clientAuthType,
    clientCaFile: ca === undefined ? undefined : readable(resolve(dir, ca), 'tls_server_config.client_ca_file'),
    minVersion,
    maxVersion,
    ciphers: cipherList(stringList(s.cipher_suites, 'tls_server_config.cipher_suites')),
    // Go's default is true since 1.17 (and the field is ignored there).
    honorCipherOrder: prefer !== false,
    ecdhCurve: curveList(stringList(s.curve_preferences, 'tls_server_config.curve_preferences')),
  };
}

const BCRYPT = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

function parseUsers(value: unknown): Map<string, string> {
  const users = new Map<string, string>();
  if (value === null || value === undefined) return users;
  if (!isRecord(value)) throw new WebConfigError('basic_auth_users must be a mapping of user name to bcrypt hash');
  for (const [user, hash] of Object.entries(value)) {
    if (typeof hash !== 'string' || !BCRYPT.test(hash)) {
      throw new WebConfigError(`basic_auth_users.${user}: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`);
    }
    if (user.includes(':')) throw new WebConfigError(`basic_auth_users: user name "${user}" contains ':'`);
    users.set(user, hash);
  }
  return users;
}

function parseHeaders(value: unknown): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) throw new WebConfigError('http_server_config.headers must be a mapping');
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    const canonical = Object.keys(HEADERS).find((h) => h.toLowerCase() === name.toLowerCase());
    if (canonical === undefined) {
      throw new WebConfigError(`http_server_config.headers: ${name} is not allowed (allowed: ${Object.keys(HEADERS).join(', ')})`);
    }
    if (typeof v !== 'string') throw new WebConfigError(`http_server_config.headers.${name} must be a string`);
    const allowed = HEADERS[canonical];
    if (allowed !== undefined && !allowed.includes(v.toLowerCase())) {
      throw new WebConfigError(`http_server_config.headers.${name}: "${v}" is not one of ${allowed.join(', ')}`);
    }
    out[canonical] = v;
  }
  return out;
}

/** Reads and checks a web config file; throws WebConfigError (one line) on any problem. */
export function loadWebConfig(path: string): WebConfig {
  const text = readFileOr(path, (why) => new WebConfigError(`web config ${path}: ${why}`)).toString('utf8');
  try {
    return parseWebConfig(text, path);
  } catch (err) {
    if (err instanceof WebConfigError) throw new WebConfigError(`web config ${path}: ${err.message}`);
    throw err;
  }
}

/** The same from text; file paths in it are relative to dirname(path). */
export function parseWebConfig(text: string, path: string): WebConfig {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true });
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
    throw new WebConfigError(`not valid YAML: ${message}`);
  }
  const top = section(doc, 'the file', ['tls_server_config', 'http_server_config', 'basic_auth_users']);
  const http = section(top.http_server_config, 'http_server_config', ['headers', 'http2']);
  if (http.http2 !== undefined && http.http2 !== null && typeof http.http2 !== 'boolean') {
    throw new WebConfigError('http_server_config.http2 must be true or false');
  }
  return {
    path,
    tls: parseTls(top.tls_server_config, dirname(path)),
    basicAuthUsers: parseUsers(top.basic_auth_users),
    headers: parseHeaders(http.headers),
  };
}
