// The TCP source on an in-memory tcp_counts: one row per counted (slot,
// event) cell, summed over CPUs, zeroSlot before reuse; and the producer
// publishing those rows as the three datapath_tcp_* families, with pod
// labels only, under both doors' names.
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { SumMetricData } from '@opentelemetry/sdk-metrics';
import { type EndpointSlot, ENDPOINT_UNATTRIBUTED, TCP_CELLS, tcpIndex } from '../../../src/bpf/contract.js';
import { perCpuStride } from '../../../src/bpf/map.js';
import { TcpSource } from '../../../src/collect/tcp-table.js';
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import { OTLP_NAMING } from '../../../src/export/pod-naming.js';
import { Pods } from '../../support/producer-rows.js';
import { MemoryMap } from '../../support/memory-map.js';

const CPUS = 3;
const STRIDE = perCpuStride(8, CPUS);

function count(map: MemoryMap, index: number, cpu: number, n: bigint): void {
  const cell = map.get(index) ?? Buffer.alloc(STRIDE);
  cell.writeBigUInt64LE(cell.readBigUInt64LE(cpu * 8) + n, cpu * 8);
  map.set(index, cell);
}

describe('tcp source (unit)', function () {
  const setup = () => {
    const map = new MemoryMap({ name: 'tcp_counts', kind: 'array', keySize: 4, valueSize: STRIDE, maxEntries: TCP_CELLS });
    return { map, source: new TcpSource(map, CPUS) };
  };

  it('makes one row per counted cell, summed over CPUs, of its event and slot', function () {
    const { map, source } = setup();
    count(map, tcpIndex(3 as EndpointSlot, 'retransmit'), 0, 5n);
    count(map, tcpIndex(3 as EndpointSlot, 'retransmit'), 2, 2n);
    count(map, tcpIndex(3 as EndpointSlot, 'reset_received'), 1, 1n);
    count(map, tcpIndex(ENDPOINT_UNATTRIBUTED as EndpointSlot, 'reset_sent'), 1, 4n);
    assert.deepEqual(
      source.read().map((r) => [r.kind, r.endpoint, r.packets, r.bytes]),
      [
        ['tcp_retransmit', 3, 7n, 0n],
        ['tcp_reset_received', 3, 1n, 0n],
        ['tcp_reset_sent', ENDPOINT_UNATTRIBUTED, 4n, 0n],
      ],
    );
  });

  it("zeroSlot clears a slot's three events and nothing else, never the unattributed cells", function () {
    const { map, source } = setup();
    for (const event of ['retransmit', 'reset_sent', 'reset_received'] as const) count(map, tcpIndex(4 as EndpointSlot, event), 0, 1n);
    count(map, tcpIndex(5 as EndpointSlot, 'retransmit'), 1, 1n);
    count(map, tcpIndex(ENDPOINT_UNATTRIBUTED as EndpointSlot, 'retransmit'), 1, 1n);
    source.zeroSlot(4 as EndpointSlot);
    source.zeroSlot(ENDPOINT_UNATTRIBUTED as EndpointSlot);
    assert.deepEqual(
      source.read().map((r) => r.endpoint),
      [5, ENDPOINT_UNATTRIBUTED],
    );
  });

  it('reads the whole table in one batch call', function () {
    const { map, source } = setup();
    source.read();
    assert.deepEqual(map.calls, ['lookupBatch']);
  });

  it('is published as datapath_tcp_* with pod labels, no direction or location, under both doors', async function () {
    const { map, source } = setup();
    count(map, tcpIndex(0 as EndpointSlot, 'retransmit'), 0, 6n);
    count(map, tcpIndex(0 as EndpointSlot, 'reset_sent'), 0, 2n);
    const pods = new Pods();
    pods.bySlot.set(0, { namespace: 'shop', pod: 'web-1', workload: 'web', workloadKind: 'Deployment', uid: 'u1' });
    const producer = new DatapathProducer(resourceFromAttributes({}), pods, { granularity: 'pod', maxSeries: 100 });
    producer.update(source.read());
    const metric = async (door: 'prometheus' | 'otlp', name: string) => {
      const result = await (door === 'otlp' ? producer.as(OTLP_NAMING) : producer).collect();
      const m = (result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics) as SumMetricData[]).find((x) => x.descriptor.name === name);
      assert.ok(m, name);
      return m;
    };
    const retrans = await metric('prometheus', 'datapath_tcp_retransmit_segments');
    assert.deepEqual(
      retrans.dataPoints.map((p) => [p.attributes, p.value]),
      [[{ source: 'kernel', namespace: 'shop', pod: 'web-1', workload: 'web', workload_kind: 'Deployment' }, 6]],
    );
    assert.deepEqual(
      (await metric('prometheus', 'datapath_tcp_resets_sent')).dataPoints.map((p) => p.value),
      [2],
    );
    assert.deepEqual((await metric('prometheus', 'datapath_tcp_resets_received')).dataPoints, []);
    const otlp = await metric('otlp', 'datapath_tcp_retransmit_segments');
    assert.equal(otlp.descriptor.unit, '{segment}');
    assert.equal((await metric('otlp', 'datapath_tcp_resets_sent')).descriptor.unit, '{reset}');
    assert.deepEqual(
      otlp.dataPoints.map((p) => [p.attributes, p.value]),
      [[{ source: 'kernel', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'web-1', 'k8s.deployment.name': 'web' }, 6]],
    );
  });
});
