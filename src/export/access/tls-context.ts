// The TLS side of the listener, from a web config's tls_server_config:
// server options for node:https, client certificate policy, and certificate
// rotation without a restart.
//
// Rotation: before each new connection's handshake (a 'connection' listener
// placed ahead of the TLS server's own), the certificate, key and client CA
// files are read again (a few kB from a Secret volume: microseconds, against
// the milliseconds of a handshake; contents rather than mtimes, whose
// granularity could hide a quick rewrite). When they differ from what is
// served (a rewrite, or Kubernetes' atomic symlink swap of a Secret volume),
// the server's secure context is swapped with setSecureContext(), and that
// very handshake already presents the new certificate. A pair that does not
// load (a half-written file, a key that does not match its certificate yet)
// keeps the previous context and is tried again at the next connection: a
// rotation never fails a scrape. Kept-alive connections (Prometheus keeps
// its connection between scrapes) read nothing.
import { readFileSync } from 'node:fs';
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
  private material: Material;
  /** Files that did not load, not tried again until they change. */
  private failed: Material | undefined;

  /** Reads the files; throws (the caller says which file) when they do not make a usable context. */
  constructor(
    readonly config: TlsServerConfig,
    private readonly log?: TlsLog,
  ) {
    const material = this.read();
    // Fails now, with OpenSSL's reason, rather than at the first handshake.
    createSecureContext(this.contextOptions(material));
    this.material = material;
  }

  /** Options for https.createServer. */
  serverOptions(): ServerOptions {
    const { clientAuthType } = this.config;
    return {
      ...this.contextOptions(this.material),
      requestCert: clientAuthType !== 'NoClientCert',
      // Only this mode is enforced in the handshake itself; the others are
      // decided per connection in clientAllowed().
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
    let material: Material;
    try {
      material = this.read();
    } catch {
      return; // A file is missing for a moment (mid-rotation): keep serving the old pair.
    }
    if (sameMaterial(material, this.material) || (this.failed !== undefined && sameMaterial(material, this.failed))) return;
    try {
      server.setSecureContext(this.contextOptions(material));
    } catch (err) {
      this.failed = material;
      this.log?.warn(
        { err: String(err), certFile: this.config.certFile },
        'TLS certificate files changed but do not load; still serving the previous certificate',
      );
      return;
    }
    this.material = material;
    this.failed = undefined;
    this.log?.info({ certFile: this.config.certFile }, 'TLS certificate reloaded');
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

function sameMaterial(a: Material, b: Material): boolean {
  return (
    a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca))
  );
}
