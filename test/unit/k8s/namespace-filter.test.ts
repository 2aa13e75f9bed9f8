// --namespaces / --exclude-namespaces as the slot table applies them.
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseNamespaceGlobs } from '../../../src/cli/options.js';
import { EVERY_NAMESPACE, NamespaceFilter } from '../../../src/k8s/namespace-filter.js';

describe('namespace filter', function () {
  it('admits every namespace by default; exclude wins over include; globs match whole names', function () {
    assert.equal(EVERY_NAMESPACE.admits('kube-system'), true);
    const f = new NamespaceFilter(parseNamespaceGlobs('shop,team-*'), parseNamespaceGlobs('team-secret'));
    assert.deepEqual(
      ['shop', 'shop-2', 'team-a', 'team-secret', 'kube-system', 'team-'].map((n) => f.admits(n)),
      [true, false, true, false, false, true],
    );
    const onlyExclude = new NamespaceFilter(undefined, parseNamespaceGlobs('kube-*'));
    assert.deepEqual(
      ['kube-system', 'default'].map((n) => onlyExclude.admits(n)),
      [false, true],
    );
  });

  it('refuses a list that is no namespace glob, in one line', function () {
    for (const bad of ['', ',', 'Shop', 'a b', 'ns/x', 'x'.repeat(64), '[abc]']) {
      assert.throws(() => parseNamespaceGlobs(bad), InvalidArgumentError, bad);
    }
  });
});
