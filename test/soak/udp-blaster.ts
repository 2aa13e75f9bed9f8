// A long-lived UDP sender for the soak, started once inside a pod's network
// namespace (nsenter) and told what to send over stdin, so thousands of
// bursts cost no process start each. One JSON line per burst in,
// {"host","port","count","size"}; one line out when every send completed:
// {"sent","refused"}.
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const socket = createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(0, resolve));
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const { host, port, count, size } = JSON.parse(line) as { host: string; port: number; count: number; size: number };
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0;
  let refused = 0;
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) =>
      socket.send(payload, port, host, (err) => {
        if (err) refused++;
        else sent++;
        resolve();
      }),
    );
  }
  process.stdout.write(`${JSON.stringify({ sent, refused })}\n`);
}
socket.close();
