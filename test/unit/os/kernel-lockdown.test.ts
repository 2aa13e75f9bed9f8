// securityfs's lockdown file: the current mode is the bracketed one.
import assert from 'node:assert/strict';
import { parseLockdown } from '../../../src/os/kernel-lockdown.js';

describe('kernel lockdown mode', () => {
  it('is the bracketed word of /sys/kernel/security/lockdown', () => {
    assert.equal(parseLockdown('none integrity [confidentiality]\n'), 'confidentiality');
    assert.equal(parseLockdown('none [integrity] confidentiality\n'), 'integrity');
    assert.equal(parseLockdown('[none] integrity confidentiality\n'), 'none');
    assert.equal(parseLockdown(''), undefined);
  });
});
