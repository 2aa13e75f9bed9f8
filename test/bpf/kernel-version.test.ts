// The minimum kernel, decided from the release string alone: the command
// line asks this before it imports the agent (see test/matrix for 5.10 booted).
import assert from 'node:assert/strict';
import { kernelTooOld, kernelVersion } from '../../src/bpf/kernel-version.js';

describe('kernel version', function () {
  it('reads major.minor from a release string', function () {
    assert.deepEqual(kernelVersion('6.12.117+deb13-amd64'), [6, 12]);
    assert.deepEqual(kernelVersion('5.10.0-32-amd64'), [5, 10]);
    assert.deepEqual(kernelVersion('not a release'), [0, 0]);
  });

  it('refuses kernels before 5.13 in one line naming the release and the minimum', function () {
    assert.equal(kernelTooOld('5.10.0-32-amd64'), 'kernel 5.10.0-32-amd64 is too old: 5.13 or newer is needed (per-CPU map batch reads)');
    assert.match(kernelTooOld('4.19.0-27-amd64') ?? '', /^kernel 4\.19\.0-27-amd64 is too old/);
    assert.match(kernelTooOld('5.12.19') ?? '', /too old/);
  });

  it('accepts 5.13 and later', function () {
    for (const r of ['5.13.0', '5.15.0-91-generic', '6.1.0-50-amd64', '6.12.117+deb13-amd64', '7.0.0'])
      assert.equal(kernelTooOld(r), undefined, r);
  });
});
