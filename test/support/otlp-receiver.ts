// An OTLP metrics receiver of the suite's own (no Collector binary here):
// gRPC (opentelemetry.proto.collector.metrics.v1.MetricsService/Export on
// @grpc/grpc-js), HTTP protobuf and HTTP JSON on POST /v1/metrics (chunked
// or not, gzip or not). Protobuf is decoded with protobufjs from the subset of
// the OTLP .proto files below (field numbers from opentelemetry-proto). Every
// export is kept, normalized to one shape, for assertions. It can answer
// errors (HTTP 429/503, gRPC UNAVAILABLE), answer late, stop and start again
// on the same port.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

const identity = (b: Buffer) => b;
/** OTLP's MetricsService/Export with raw bytes in and out (the suite decodes them itself). */
export const METRICS_EXPORT_SERVICE = {
  Export: {
    path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'export',
  },
};

const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  uint32 flags = 10; optional double min = 11; optional double max = 12;
}
`;

const root = protobuf.parse(OTLP_PROTO, { keepCase: false }).root;
const Request = root.lookupType('otlp.ExportMetricsServiceRequest');
const Response = root.lookupType('otlp.ExportMetricsServiceResponse');

export const AGGREGATION_TEMPORALITY_DELTA = 1;
export const AGGREGATION_TEMPORALITY_CUMULATIVE = 2;

export type Protocol = 'grpc' | 'http/protobuf' | 'http/json';

export interface Point {
  attributes: Record<string, string>;
  value: number;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram';
  aggregationTemporality?: number;
  isMonotonic?: boolean;
  points: Point[];
}

export interface ReceivedExport {
  protocol: Protocol;
  /** HTTP headers, or gRPC metadata. */
  headers: Record<string, string>;
  /** HTTP content-encoding (gRPC's grpc-encoding is consumed by grpc-js: undefined). */
  encoding: string | undefined;
  /** Whether the HTTP body came chunked (no content-length). */
  chunked: boolean;
  /** Size of the request as decoded (after any decompression). */
  bytes: number;
  /** Over TLS with a client certificate: its subject's CN. */
  clientCn?: string;
  resource: Record<string, string>;
  metrics: ReceivedMetric[];
}

/** TLS for the receiver: its certificate, and the CA whose client certificates it requires. */
export interface ReceiverTls {
  cert: string;
  key: string;
  clientCa?: string;
}

/** What the receiver answers to the next exports. */
export type Answer = { kind: 'ok' } | { kind: 'error'; http: number; retryAfterSeconds?: number } | { kind: 'late'; ms: number };

interface JsonKeyValue {
  key: string;
  value?: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface JsonPoint {
  attributes?: JsonKeyValue[];
  startTimeUnixNano?: string | number;
  timeUnixNano?: string | number;
  asDouble?: number;
  asInt?: string | number;
  count?: string | number;
}
interface JsonMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints?: JsonPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  gauge?: { dataPoints?: JsonPoint[] };
  histogram?: { dataPoints?: JsonPoint[]; aggregationTemporality?: number };
}
interface JsonRequest {
  resourceMetrics?: Array<{ resource?: { attributes?: JsonKeyValue[] }; scopeMetrics?: Array<{ metrics?: JsonMetric[] }> }>;
}

function attributesOf(kvs: JsonKeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = String(v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? '');
  }
  return out;
}

/** The OTLP JSON mapping and protobufjs' toObject() give the same shape: one normalizer. */
function normalize(req: JsonRequest, base: Omit<ReceivedExport, 'resource' | 'metrics'>): ReceivedExport[] {
  return (req.resourceMetrics ?? []).map((rm) => ({
    ...base,
    resource: attributesOf(rm.resource?.attributes),
    metrics: (rm.scopeMetrics ?? []).flatMap((sm) =>
      (sm.metrics ?? []).map((m): ReceivedMetric => {
        const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : 'histogram';
        const data = m.sum ?? m.gauge ?? m.histogram;
        return {
          name: m.name,
          unit: m.unit ?? '',
          kind,
          aggregationTemporality: m.sum?.aggregationTemporality ?? m.histogram?.aggregationTemporality,
          isMonotonic: m.sum?.isMonotonic ?? (m.sum ? false : undefined),
          points: (data?.dataPoints ?? []).map((p) => ({
            attributes: attributesOf(p.attributes),
            value: Number(p.asDouble ?? p.asInt ?? p.count ?? 0),
            startTimeUnixNano: BigInt(p.startTimeUnixNano ?? 0),
            timeUnixNano: BigInt(p.timeUnixNano ?? 0),
          })),
        };
      }),
    ),
  }));
}

function decodeProtobuf(body: Buffer): JsonRequest {
  return Request.toObject(Request.decode(body), { longs: String, enums: Number, defaults: false }) as JsonRequest;
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

const GRPC_STATUS_OF_HTTP: Record<number, grpc.status> = { 429: grpc.status.RESOURCE_EXHAUSTED, 503: grpc.status.UNAVAILABLE };

export class OtlpReceiver {
  readonly exports: ReceivedExport[] = [];
  /** Requests answered with an error or too late, by this receiver. */
  refused = 0;
  answer: Answer = { kind: 'ok' };
  /** When set, the answer to the request of this index (0, 1, …) instead of `answer`. */
  answerFor: ((request: number) => Answer) | undefined;
  private requests = 0;
  /** Requests held open at once (answering late), and the most ever. */
  inFlight = 0;
  maxInFlight = 0;
  port = 0;
  private http: Server | undefined;
  private grpcServer: grpc.Server | undefined;

  private constructor(
    readonly transport: 'grpc' | 'http',
    private readonly tls: ReceiverTls | undefined,
  ) {}

  /** A receiver on 127.0.0.1; port 0 picks one (kept across stop/start). */
  static async start(transport: 'grpc' | 'http', port = 0, tls?: ReceiverTls): Promise<OtlpReceiver> {
    const r = new OtlpReceiver(transport, tls);
    r.port = port;
    await r.listen();
    return r;
  }

  /** The URL an agent pushes to (for HTTP, OTEL_EXPORTER_OTLP_ENDPOINT style: the base). */
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    if (this.transport === 'http') await this.listenHttp();
    else await this.listenGrpc();
  }

  /** Stops answering (the collector went away); listen() again on the same port. */
  async stop(): Promise<void> {
    if (this.http) {
      const s = this.http;
      this.http = undefined;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    if (this.grpcServer) {
      this.grpcServer.forceShutdown();
      this.grpcServer = undefined;
    }
  }

  private async listenHttp(): Promise<void> {
    const tls = this.tls;
    const options = tls && {
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      ...(tls.clientCa ? { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
    };
    const create = (handler: RequestListener): Server => (options ? createHttpsServer(options, handler) : createServer(handler));
    const server = create((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          let body = Buffer.concat(chunks);
          const encoding = req.headers['content-encoding'];
          if (encoding === 'gzip') body = gunzipSync(body);
          const json = (req.headers['content-type'] ?? '').includes('json');
          const protocol: Protocol = json ? 'http/json' : 'http/protobuf';
          const answer = this.answerFor?.(this.requests++) ?? this.answer;
          if (answer.kind === 'late') await this.late(answer.ms);
          if (answer.kind !== 'ok') {
            this.refused++;
            const headers: Record<string, string> = { 'content-type': 'text/plain' };
            if (answer.kind === 'error' && answer.retryAfterSeconds !== undefined)
              headers['retry-after'] = String(answer.retryAfterSeconds);
            if (!res.destroyed) res.writeHead(answer.kind === 'error' ? answer.http : 503, headers).end('refused by the test\n');
            return;
          }
          const request = json ? (JSON.parse(body.toString('utf8')) as JsonRequest) : decodeProtobuf(body);
          this.exports.push(
            ...normalize(request, {
              protocol,
              headers: flatHeaders(req.headers),
              encoding,
              chunked: req.headers['content-length'] === undefined,
              bytes: body.length,
              clientCn: tls?.clientCa ? String((req.socket as TLSSocket).getPeerCertificate().subject?.CN) : undefined,
            }),
          );
          if (json) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          else
            res
              .writeHead(200, { 'content-type': 'application/x-protobuf' })
              .end(Buffer.from(Response.encode(Response.create({})).finish()));
        })();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.http = server;
  }

  private async listenGrpc(): Promise<void> {
    const server = new grpc.Server();
    server.addService(METRICS_EXPORT_SERVICE, {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        void (async () => {
          const answer = this.answerFor?.(this.requests++) ?? this.answer;
          if (answer.kind === 'late') await this.late(answer.ms);
          if (answer.kind !== 'ok') {
            this.refused++;
            const code = answer.kind === 'error' ? (GRPC_STATUS_OF_HTTP[answer.http] ?? grpc.status.UNAVAILABLE) : grpc.status.UNAVAILABLE;
            callback({ code, details: 'refused by the test' });
            return;
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(call.metadata.getMap())) headers[k] = String(v);
          this.exports.push(
            ...normalize(decodeProtobuf(call.request), {
              protocol: 'grpc',
              headers,
              encoding: undefined,
              chunked: false,
              bytes: call.request.length,
              clientCn: this.tls?.clientCa ? String(call.getAuthContext().sslPeerCertificate?.subject?.CN) : undefined,
            }),
          );
          callback(null, Buffer.from(Response.encode(Response.create({})).finish()));
        })();
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, this.grpcCredentials(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.grpcServer = server;
  }

  private async late(ms: number): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, ms));
    this.inFlight--;
  }

  private grpcCredentials(): grpc.ServerCredentials {
    const tls = this.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    const ca = tls.clientCa ? readFileSync(tls.clientCa) : null;
    return grpc.ServerCredentials.createSsl(ca, [{ private_key: readFileSync(tls.key), cert_chain: readFileSync(tls.cert) }], ca !== null);
  }

  /** Every point of `metric` whose attributes include `match`, in arrival order. */
  points(metric: string, match: Record<string, string> = {}): Point[] {
    return this.exports.flatMap((e) =>
      e.metrics
        .filter((m) => m.name === metric)
        .flatMap((m) => m.points.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))),
    );
  }

  /** The series' value in the latest export that has it (summed over matching series of that export). */
  latest(metric: string, match: Record<string, string> = {}): number | undefined {
    for (let i = this.exports.length - 1; i >= 0; i--) {
      const e = this.exports[i];
      const pts = (e?.metrics ?? [])
        .filter((m) => m.name === metric)
        .flatMap((m) => m.points.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)));
      if (pts.length > 0) return pts.reduce((s, p) => s + p.value, 0);
    }
    return undefined;
  }

  metric(name: string): ReceivedMetric | undefined {
    for (let i = this.exports.length - 1; i >= 0; i--) {
      const m = this.exports[i]?.metrics.find((x) => x.name === name);
      if (m) return m;
    }
    return undefined;
  }
}
