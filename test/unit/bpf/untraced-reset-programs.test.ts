// Which hooks count the resets tcp_send_reset misses: only where the
// tracepoint has no reason argument (before 6.10 it fires for full sockets
// only), so nothing is counted twice where it fires for every reset.
import assert from 'node:assert/strict';
import { untracedResetPrograms } from '../../../src/bpf/tcp-program.js';

const V4 = 'count_tcp_v4_untraced_reset';
const V6 = 'count_tcp_v6_untraced_reset';
const every = () => true;

describe('untraced reset programs (unit)', function () {
  it('loads both hooks where tcp_send_reset passes (sk, skb)', function () {
    assert.deepEqual(untracedResetPrograms(2, every), { load: [V4, V6], leave: [] });
  });

  it('leaves both unloaded where tcp_send_reset passes its reason (6.10+)', function () {
    assert.deepEqual(untracedResetPrograms(3, every), { load: [], leave: [V4, V6] });
    assert.deepEqual(untracedResetPrograms(4, every), { load: [], leave: [V4, V6] });
  });

  it('leaves both unloaded where the kernel has no tcp_send_reset tracepoint', function () {
    assert.deepEqual(untracedResetPrograms(undefined, every), { load: [], leave: [V4, V6] });
  });

  it('leaves a hook unloaded whose function the kernel lacks (IPv6 not built in)', function () {
    assert.deepEqual(
      untracedResetPrograms(2, (fn) => fn === 'tcp_v4_send_reset'),
      { load: [V4], leave: [V6] },
    );
  });
});
