// The interface loss source's samples: one per counter per interface with
// stats, each carrying the addresses found behind its interface, and those
// remembered while the interface exists (a bridge forgets an idle pod's MAC;
// the veth is still the pod's), forgotten when it goes or its ifindex comes
// back under another name.
import assert from 'node:assert/strict';
import { InterfaceLossSource } from '../../../../src/collect/node/interface-loss.js';
import type { AddressesBehind } from '../../../../src/os/addresses-behind.js';
import type { Link } from '../../../../src/os/rtnetlink.js';

const stats = {
  rx_dropped: 1,
  tx_dropped: 2,
  rx_over_errors: 0,
  rx_fifo_errors: 0,
  rx_missed_errors: 0,
  tx_fifo_errors: 0,
  rx_nohandler: 0,
};
const link = (ifindex: number, name: string): Link => ({ ifindex, name, kind: 'veth', master: undefined, stats });

describe('interface loss samples (unit)', function () {
  it('carries the addresses behind each interface, remembered while it exists under its name', function () {
    let links: Link[] = [link(5, 'veth-a'), link(6, 'veth-b')];
    let behind: AddressesBehind = new Map([[5, ['10.0.0.5']]]);
    let knownNow: number[] = [];
    const source = new InterfaceLossSource(
      () => links,
      (_links, known) => {
        knownNow = [5, 6].filter(known);
        return behind;
      },
    );
    const addressesOf = () =>
      Object.fromEntries(
        source
          .read()
          .filter((s) => s.labels.counter === 'rx_dropped')
          .map((s) => [s.labels.interface, s.podAddresses]),
      );

    assert.equal(source.read().length, 2 * 7, 'seven counters per interface');
    assert.deepEqual(addressesOf(), { 'veth-a': ['10.0.0.5'], 'veth-b': undefined });
    behind = new Map(); // the bridge forgot
    assert.deepEqual(addressesOf(), { 'veth-a': ['10.0.0.5'], 'veth-b': undefined });
    assert.deepEqual(knownNow, [5], 'the reader is told which interfaces it need not look for');
    links = [link(6, 'veth-b')]; // veth-a gone
    assert.deepEqual(addressesOf(), { 'veth-b': undefined });
    links = [link(5, 'veth-a'), link(6, 'veth-b')]; // an ifindex is not reused at once, but a new device is a new pod's
    assert.deepEqual(addressesOf(), { 'veth-a': undefined, 'veth-b': undefined });
    behind = new Map([[6, ['10.0.0.6']]]);
    assert.deepEqual(addressesOf(), { 'veth-a': undefined, 'veth-b': ['10.0.0.6'] });
    links = [link(5, 'veth-a'), link(6, 'veth-c')]; // ifindex 6 under another name
    behind = new Map();
    assert.deepEqual(addressesOf(), { 'veth-a': undefined, 'veth-c': undefined });
  });
});
