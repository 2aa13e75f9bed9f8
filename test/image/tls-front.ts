// HTTPS in front of the suite's (plain HTTP) Kubernetes API server, so that
// an agent in a container reaches it the way a pod does: in-cluster config,
// https://KUBERNETES_SERVICE_HOST:PORT, verified against the service
// account's ca.crt.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { LOCALHOST_SANS, makeCa, makeCert } from '../support/certs.js';

export class TlsFront {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    /** PEM of the CA that signed the server's certificate (the service account's ca.crt). */
    readonly caPem: string,
  ) {}

  static async start(backendPort: number): Promise<TlsFront> {
    const dir = mkdtempSync(join(tmpdir(), 'dpx-apitls-'));
    const ca = makeCa(dir, 'cluster-ca');
    const cert = makeCert(dir, 'apiserver', ca, { cn: 'kubernetes', sans: LOCALHOST_SANS });
    const server = createServer({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, (client) => {
      const backend = connect(backendPort, '127.0.0.1');
      client.pipe(backend).pipe(client);
      const close = () => {
        client.destroy();
        backend.destroy();
      };
      client.on('error', close).on('close', close);
      backend.on('error', close).on('close', close);
    });
    const front = new TlsFront(server, dir, readFileSync(ca.cert, 'utf8'));
    server.on('secureConnection', (s: Socket) => {
      front.sockets.add(s);
      s.on('close', () => front.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return front;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
