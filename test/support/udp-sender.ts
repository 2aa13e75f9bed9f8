// Sends exactly COUNT UDP datagrams of SIZE bytes, one at a time (each send
// completes before the next), and prints {"sent","refused"} as JSON.
// Usage: node udp-sender.js HOST PORT COUNT SIZE [SOURCE_PORT]
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [host = '', port = '0', count = '0', size = '0', sourcePort = '0'] = process.argv.slice(2);
const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
await new Promise<void>((resolve) => socket.bind(Number(sourcePort), resolve));
const payload = Buffer.alloc(Number(size), 0x61);
let sent = 0;
let refused = 0;
for (let i = 0; i < Number(count); i++) {
  await new Promise<void>((resolve) => {
    socket.send(payload, Number(port), host, (err) => {
      if (err) refused++;
      else sent++;
      resolve();
    });
  });
}
socket.close();
process.stdout.write(JSON.stringify({ sent, refused }));
