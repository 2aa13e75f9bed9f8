// Kallsyms: kernel text address -> function name, from a kallsyms file.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kallsyms } from '../../../src/collect/kallsyms.js';

describe('Kallsyms', function () {
  let dir = '';
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  function file(text: string): string {
    dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
    const path = join(dir, 'kallsyms');
    writeFileSync(path, text);
    return path;
  }

  it('resolves to the nearest text symbol below, in any file order, with module names and data symbols skipped', function () {
    const k = new Kallsyms(
      file(
        [
          'ffffffff81200000 T ip_rcv',
          'ffffffff81000000 T _stext',
          'ffffffff81100000 D some_data',
          'ffffffff81100010 t __udp4_lib_rcv',
          'ffffffffc0a01000 t nft_do_chain\t[nf_tables]',
          'ffffffffc0a00000 t br_handle_frame\t[bridge]',
          '',
        ].join('\n'),
      ),
    );
    assert.equal(k.addressesVisible(), true);
    assert.deepEqual(k.resolve(0xffffffff81100010n + 0x2an), { name: '__udp4_lib_rcv', offset: 0x2a });
    assert.deepEqual(k.resolve(0xffffffff81000004n), { name: '_stext', offset: 4 });
    assert.deepEqual(k.resolve(0xffffffff81200000n), { name: 'ip_rcv', offset: 0 });
    assert.deepEqual(k.resolve(0xffffffffc0a01008n), { name: 'nft_do_chain', offset: 8 });
    assert.deepEqual(k.resolve(0xffffffffc0a00fffn), { name: 'br_handle_frame', offset: 0xfff });
    assert.equal(k.resolve(0xffffffff80000000n), undefined, 'below every symbol');
    assert.equal(k.resolve(0xffffffff81400000n), undefined, 'far past the nearest symbol (1 MiB)');
  });

  it('says addresses are hidden when every one is zero (no CAP_SYSLOG)', function () {
    const k = new Kallsyms(file('0000000000000000 T _stext\n0000000000000000 t ip_rcv\n'));
    assert.equal(k.addressesVisible(), false);
  });

  it("reads the running kernel's /proc/kallsyms", function () {
    const k = new Kallsyms();
    if (!k.addressesVisible()) this.skip(); // needs CAP_SYSLOG
    const line = /^([0-9a-f]+) [tT] __udp4_lib_rcv$/m.exec(readFileSync('/proc/kallsyms', 'latin1'));
    assert.ok(line?.[1]);
    assert.deepEqual(k.resolve(BigInt(`0x${line[1]}`) + 16n), { name: '__udp4_lib_rcv', offset: 16 });
  });
});
