// A pod's workload from its ownerReferences and labels, as Kubernetes'
// controllers name what they create (no watch on ReplicaSets or Jobs).
import assert from 'node:assert/strict';
import { otelWorkloadAttribute, workloadOf } from '../../../src/k8s/workload.js';

const owned = (kind: string, name: string, labels?: Record<string, string>, controller = true) => ({
  name: `${name}-pod`,
  labels,
  ownerReferences: [{ kind, name, controller }],
});

describe('workload of a pod', function () {
  it("a Deployment's pod: the ReplicaSet name less its pod-template-hash", function () {
    assert.deepEqual(workloadOf(owned('ReplicaSet', 'cart-7d9f8c6b5', { 'pod-template-hash': '7d9f8c6b5' })), {
      kind: 'Deployment',
      name: 'cart',
    });
    // A deployment name with dashes and digits of its own.
    assert.deepEqual(workloadOf(owned('ReplicaSet', 'api-v2-5f6d-66b8c9d4f7', { 'pod-template-hash': '66b8c9d4f7' })), {
      kind: 'Deployment',
      name: 'api-v2-5f6d',
    });
  });

  it('a ReplicaSet made by hand (no hash label, or a hash its name does not end in) is its own workload', function () {
    assert.deepEqual(workloadOf(owned('ReplicaSet', 'frontend')), { kind: 'ReplicaSet', name: 'frontend' });
    assert.deepEqual(workloadOf(owned('ReplicaSet', 'frontend-abc', { 'pod-template-hash': 'xyz' })), {
      kind: 'ReplicaSet',
      name: 'frontend-abc',
    });
    // The hash alone is not a name.
    assert.deepEqual(workloadOf(owned('ReplicaSet', '-abc', { 'pod-template-hash': 'abc' })), { kind: 'ReplicaSet', name: '-abc' });
  });

  it("a CronJob's pod: the Job name less its scheduled-time suffix; another Job is itself", function () {
    assert.deepEqual(workloadOf(owned('Job', 'nightly-backup-29437920')), { kind: 'CronJob', name: 'nightly-backup' });
    assert.deepEqual(workloadOf(owned('Job', 'migrate-42')), { kind: 'Job', name: 'migrate-42' });
    assert.deepEqual(workloadOf(owned('Job', 'migrate')), { kind: 'Job', name: 'migrate' });
  });

  it('StatefulSet, DaemonSet and other controllers name themselves', function () {
    assert.deepEqual(workloadOf(owned('StatefulSet', 'db')), { kind: 'StatefulSet', name: 'db' });
    assert.deepEqual(workloadOf(owned('DaemonSet', 'datapath-exporter')), { kind: 'DaemonSet', name: 'datapath-exporter' });
    assert.deepEqual(workloadOf(owned('Rollout', 'web')), { kind: 'Rollout', name: 'web' });
  });

  it('a pod without a controller owner is its own workload', function () {
    assert.deepEqual(workloadOf({ name: 'debug' }), { kind: 'Pod', name: 'debug' });
    assert.deepEqual(workloadOf({ name: 'debug', ownerReferences: null }), { kind: 'Pod', name: 'debug' });
    // An owner that is not the controller (a garbage-collection owner) does not make a workload.
    assert.deepEqual(workloadOf(owned('ConfigMap', 'cfg', undefined, false)), { kind: 'Pod', name: 'cfg-pod' });
  });

  it('names the semantic-convention attribute of each kind', function () {
    assert.equal(otelWorkloadAttribute('Deployment'), 'k8s.deployment.name');
    assert.equal(otelWorkloadAttribute('StatefulSet'), 'k8s.statefulset.name');
    assert.equal(otelWorkloadAttribute('DaemonSet'), 'k8s.daemonset.name');
    assert.equal(otelWorkloadAttribute('Job'), 'k8s.job.name');
    assert.equal(otelWorkloadAttribute('CronJob'), 'k8s.cronjob.name');
    assert.equal(otelWorkloadAttribute('Pod'), undefined);
    assert.equal(otelWorkloadAttribute('Rollout'), undefined);
  });
});
