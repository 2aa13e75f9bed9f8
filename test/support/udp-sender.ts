// Sends exactly COUNT UDP datagrams of SIZE bytes, one at a time (each send
// completes before the next), and prints {"sent","refused"} as JSON. Several
// targets may follow one another (one process for many sends: a test that
// sends to many pods spawns one sender, not one per pod).
// Usage: node udp-sender.js HOST PORT COUNT SIZE SOURCE_PORT [HOST PORT COUNT SIZE SOURCE_PORT]...
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const args = process.argv.slice(2);
let sent = 0;
let refused = 0;
for (let i = 0; i < Math.max(args.length, 1); i += 5) {
  const [host = '', port = '0', count = '0', size = '0', sourcePort = '0'] = args.slice(i, i + 5);
  const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(Number(sourcePort), resolve));
  const payload = Buffer.alloc(Number(size), 0x61);
  for (let n = 0; n < Number(count); n++) {
    await new Promise<void>((resolve) => {
      socket.send(payload, Number(port), host, (err) => {
        if (err) refused++;
        else sent++;
        resolve();
      });
    });
  }
  socket.close();
}
process.stdout.write(JSON.stringify({ sent, refused }));
