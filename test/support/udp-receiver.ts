// A UDP socket that receives and discards, so datagrams to it are delivered
// (not NO_SOCKET). Prints "ready" once bound. Usage: node udp-receiver.js PORT
import { createSocket } from 'node:dgram';

const socket = createSocket('udp4');
socket.on('message', () => undefined);
socket.bind(Number(process.argv[2]), () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
