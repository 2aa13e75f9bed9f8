// /api/v1/drops as the agent's HTTP server serves it, without the kernel:
// the events are data (the buffer is filled as the ring reader fills it).
// A request can never end the agent, at most MAX_FOLLOWERS follow at once,
// and a slow reader of the whole buffer holds at most MAX_PENDING_BYTES unsent.
import assert from 'node:assert/strict';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { DropEvent } from '../../src/events/drop-event.js';
import { DropEventBuffer } from '../../src/events/event-buffer.js';
import { DROPS_PATH, MAX_FOLLOWERS, MAX_PENDING_BYTES } from '../../src/export/pull/drops-api.js';
import { MetricsServer } from '../../src/export/pull/http-server.js';

function event(i: number): DropEvent {
  const ns = 1_764_000_000_000_000_000n + BigInt(i);
  return {
    time: new Date(Number(ns / 1_000_000n)).toISOString(),
    timeUnixNano: String(ns),
    reason: 'NO_SOCKET',
    location: 'udp_queue_rcv_skb',
    direction: 'ingress',
    ifindex: 7,
    protocol: 'UDP',
    ipVersion: 4,
    source: { ip: '10.0.0.1', port: 40000 + (i % 1000), namespace: 'shop', pod: 'client' },
    destination: { ip: '10.0.0.2', port: 9, namespace: 'shop', pod: 'web' },
    length: 128,
  };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** A raw client that sends one request and does not read (until told). */
function stuckClient(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: agent\r\n\r\n`);
      resolve(s);
    });
    s.on('error', reject);
    s.pause();
  });
}

describe('drop events API (the HTTP door)', function () {
  let server: MetricsServer;
  let meterProvider: MeterProvider;
  let port = 0;
  const buffer = new DropEventBuffer();
  const sockets: Socket[] = [];

  before(async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ readers: [exporter] });
    server = new MetricsServer(exporter, { live: () => true, ready: () => true }, undefined, buffer);
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
    buffer.push(Array.from({ length: buffer.capacity }, (_, i) => event(i)));
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await server.close();
    await meterProvider.shutdown();
  });

  it('answers a since the server cannot represent with 400, and goes on serving', async () => {
    const huge = `${'9'.repeat(400)}h`;
    const r = await get(port, `${DROPS_PATH}?since=${huge}`);
    assert.equal(r.status, 400);
    assert.match(r.body, /neither an RFC 3339 time nor a duration/);
    assert.equal((await get(port, '/healthz')).status, 200, 'still serving');
  });

  it('answers 405 to a method other than GET and HEAD', async () => {
    for (const path of [DROPS_PATH, '/metrics']) {
      const r = await new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, allow: res.headers.allow });
        })
          .on('error', reject)
          .end('x');
      });
      assert.deepEqual(r, { status: 405, allow: 'GET, HEAD' }, path);
    }
  });

  it('serves every buffered event, in order', async () => {
    const r = await get(port, DROPS_PATH);
    assert.equal(r.status, 200);
    const lines = r.body.trim().split('\n');
    assert.equal(lines.length, buffer.capacity);
    assert.deepEqual(JSON.parse(lines[0] ?? ''), event(0));
    assert.deepEqual(JSON.parse(lines.at(-1) ?? ''), event(buffer.capacity - 1));
  });

  it('holds at most MAX_PENDING_BYTES unsent for a reader of the whole buffer that does not read, then sends it all', async () => {
    const full = (await get(port, DROPS_PATH)).body.length;
    assert.ok(full > 2 * MAX_PENDING_BYTES, `the buffer (${full} bytes) is larger than what may wait`);
    // The response as the server holds it: what it has written but not yet sent.
    const responses: ServerResponse[] = [];
    const inner = server['server'];
    const watch = (_req: IncomingMessage, res: ServerResponse) => responses.push(res);
    inner.on('request', watch);
    const s = await stuckClient(port, DROPS_PATH);
    sockets.push(s);
    await new Promise((r) => setTimeout(r, 500));
    inner.off('request', watch);
    assert.equal(responses.length, 1);
    const waiting = responses[0]?.writableLength ?? 0;
    // One batch of events may go past the mark (the check is before each write).
    assert.ok(waiting <= MAX_PENDING_BYTES + 256 * 400, `${waiting} bytes wait unsent`);
    s.resume();
    let received = 0;
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= full) resolve();
      });
    });
    assert.ok(received >= full, 'and all of it arrives once read');
  });

  it(`refuses a follower beyond ${MAX_FOLLOWERS} with 503, and takes one again when one leaves`, async () => {
    const followers: Socket[] = [];
    for (let i = 0; i < MAX_FOLLOWERS; i++) followers.push(await stuckClient(port, `${DROPS_PATH}?follow=1`));
    sockets.push(...followers);
    const deadline = Date.now() + 5_000;
    while (buffer.followerCount < MAX_FOLLOWERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(buffer.followerCount, MAX_FOLLOWERS);
    const refused = await get(port, `${DROPS_PATH}?follow=1`);
    assert.equal(refused.status, 503);
    assert.match(refused.body, /already follow/);
    followers[0]?.destroy();
    while (buffer.followerCount >= MAX_FOLLOWERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const again = await stuckClient(port, `${DROPS_PATH}?follow=1`);
    sockets.push(again);
    const head = await new Promise<string>((resolve) => {
      again.resume();
      again.once('data', (d: Buffer) => resolve(d.toString('utf8')));
    });
    assert.match(head, /^HTTP\/1\.1 200/);
  });
});
