// The TLS side of the listener, from a web config's tls_server_config:
// server options for node:https, client certificate policy, and certificate
// rotation without a restart.
//
// Rotation: before each new connection's handshake (a 'connection' listener
// placed ahead of the TLS server's own), the certificate, key and client CA
// files are stat()ed; when any changed (inode, size or mtime: a rewrite, or
// Kubernetes' atomic symlink swap of a Secret volume), they are read again and
// the server's secure context is swapped with setSecureContext(). That very
// handshake already presents the new certificate. A pair that does not load
// (a half-written file, a key that does not match) keeps the previous context
// and is retried on the next connection: a rotation never fails a scrape.
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpsServer, ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { TlsServerConfig } from './web-config.js';

export interface TlsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Material {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export class TlsContext {
  private stamp: string;
  private failedStamp: string | undefined;

  /** Reads the files; throws (the caller says which file) when they do not make a usable context. */
  constructor(
    readonly config: TlsServerConfig,
    private readonly log?: TlsLog,
  ) {
    this.stamp = this.currentStamp();
    const material = this.read();
    // Fails now, with OpenSSL's reason, rather than at the first handshake.
    createSecureContext(this.contextOptions(material));
    this.material = material;
  }

  private material: Material;

  /** Options for https.createServer. */
  serverOptions(): ServerOptions {
    const { clientAuthType } = this.config;
    return {
      ...this.contextOptions(this.material),
      requestCert: clientAuthType !== 'NoClientCert',
      // Only this mode is enforced in the handshake itself; the others are
      // decided per connection in checkClient().
      rejectUnauthorized: clientAuthType === 'RequireAndVerifyClientCert',
    };
  }

  /** Wires rotation and the client certificate policy into a server built with serverOptions(). */
  attach(server: HttpsServer): void {
    // Ahead of the TLS server's own 'connection' listener, which starts the handshake.
    server.prependListener('connection', (_socket: Socket) => this.refresh(server));
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!this.clientAllowed(socket)) socket.destroy();
    });
  }

  /**
   * The exporter-toolkit's (Go's) client_auth_type semantics for the modes
   * the handshake does not enforce by itself.
   */
  clientAllowed(socket: TLSSocket): boolean {
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    switch (this.config.clientAuthType) {
      case 'NoClientCert':
      case 'RequestClientCert':
        return true;
      case 'RequireAnyClientCert':
        return presented;
      case 'VerifyClientCertIfGiven':
        return !presented || socket.authorized;
      case 'RequireAndVerifyClientCert':
        return presented && socket.authorized;
    }
  }

  /** Swaps the server's context when a file changed since the last load. */
  refresh(server: HttpsServer): void {
    let stamp: string;
    try {
      stamp = this.currentStamp();
    } catch {
      return; // A file is missing for a moment (mid-rotation): keep serving the old pair.
    }
    if (stamp === this.stamp || stamp === this.failedStamp) return;
    let material: Material;
    try {
      material = this.read();
      server.setSecureContext(this.contextOptions(material));
    } catch (err) {
      this.failedStamp = stamp;
      this.log?.warn({ err: String(err), certFile: this.config.certFile }, 'TLS certificate files changed but do not load; still serving the previous certificate');
      return;
    }
    this.material = material;
    this.stamp = stamp;
    this.failedStamp = undefined;
    this.log?.info({ certFile: this.config.certFile }, 'TLS certificate reloaded');
  }

  private files(): string[] {
    const { certFile, keyFile, clientCaFile } = this.config;
    return clientCaFile === undefined ? [certFile, keyFile] : [certFile, keyFile, clientCaFile];
  }

  private currentStamp(): string {
    return this.files()
      .map((f) => {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  }

  private read(): Material {
    const { certFile, keyFile, clientCaFile } = this.config;
    return {
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
      ca: clientCaFile === undefined ? undefined : readFileSync(clientCaFile),
    };
  }

  private contextOptions(m: Material): SecureContextOptions {
    const c = this.config;
    const options: SecureContextOptions = {
      cert: m.cert,
      key: m.key,
      minVersion: c.minVersion,
      honorCipherOrder: c.honorCipherOrder,
    };
    if (m.ca !== undefined) options.ca = m.ca;
    if (c.maxVersion !== undefined) options.maxVersion = c.maxVersion;
    if (c.ciphers !== undefined) options.ciphers = c.ciphers;
    if (c.ecdhCurve !== undefined) options.ecdhCurve = c.ecdhCurve;
    return options;
  }
}
