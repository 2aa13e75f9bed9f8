// `list` with nothing counted: one clean line, "No entries found." on stderr
// and nothing on stdout, as `cilium bpf metrics list` prints it; never a
// header run together with the message. The agent's objects are loaded and
// pinned here but never attached, so no drop elsewhere on the machine can
// put a row in their maps.
import assert from 'node:assert/strict';
import { DatapathPrograms } from '../../src/bpf/datapath-programs.js';
import { formatRows } from '../../src/cli/list-command.js';
import { createLogger } from '../../src/log/logger.js';
import { removePinDir, runCli, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

describe('list with nothing counted', function () {
  let pinDir: string;

  before(function () {
    requireBpf(this);
    pinDir = testPinDir();
    try {
      DatapathPrograms.load(pinDir, 'auto', createLogger('silent')).close();
    } catch (err) {
      removePinDir(pinDir);
      throw err;
    }
  });

  after(function () {
    if (pinDir) removePinDir(pinDir);
  });

  for (const output of ['table', 'cilium']) {
    it(`--output ${output}: "No entries found." on stderr, nothing on stdout, exit 0`, function () {
      const r = runCli(['list', '--bpffs', pinDir, '--output', output, '--cilium-metrics-map', 'none']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'No entries found.\n');
    });
  }

  it('--output json: an empty array and no message', function () {
    const r = runCli(['list', '--bpffs', pinDir, '--output', 'json', '--cilium-metrics-map', 'none']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '[]\n');
    assert.equal(r.stderr, '');
  });

  it('formats no rows as no text for the tables, [] for JSON', function () {
    assert.equal(formatRows([], 'table'), '');
    assert.equal(formatRows([], 'cilium'), '');
    assert.equal(formatRows([], 'json'), '[]\n');
  });
});
