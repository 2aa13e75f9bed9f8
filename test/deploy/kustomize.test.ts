// Both kustomizations render with the real kustomize, every object they
// render is valid for its kind, and the image and namespace are applied.
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readKustomization, renderKustomization, type KubeObject } from './kustomize.js';
import { deployDir } from './paths.js';
import { validateObject } from './validate.js';

const NAMESPACE = 'datapath-exporter';
const CLUSTER_SCOPED = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'];

const KUSTOMIZATIONS = [
  {
    dir: join(deployDir, 'base'),
    kinds: ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'Service', 'ServiceAccount'],
  },
  {
    dir: join(deployDir, 'overlays', 'prometheus-operator'),
    kinds: ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor'],
  },
];

function containers(ds: KubeObject): { image?: string }[] {
  const spec = ds.spec as { template: { spec: { containers: { image?: string }[] } } };
  return spec.template.spec.containers;
}

describe('deploy: kustomizations', () => {
  for (const { dir, kinds } of KUSTOMIZATIONS) {
    const name = dir.slice(deployDir.length + 1);

    describe(name, () => {
      let objects: KubeObject[] = [];

      before(async () => {
        objects = await renderKustomization(dir);
      });

      it('lists only resources that exist and parse', async () => {
        const k = await readKustomization(dir);
        assert.ok(k.resources && k.resources.length > 0, 'no resources');
        for (const res of k.resources) {
          const path = join(dir, res);
          if ((await stat(path)).isDirectory()) {
            await access(join(path, 'kustomization.yaml'));
            continue;
          }
          const docs = parseAllDocuments(await readFile(path, 'utf8'));
          for (const doc of docs) assert.deepEqual(doc.errors, [], `${res} does not parse`);
        }
      });

      it('renders exactly the expected kinds', () => {
        assert.deepEqual(objects.map((o) => o.kind).sort(), kinds);
      });

      it('renders objects valid for their kind', () => {
        for (const obj of objects) {
          assert.doesNotThrow(() => validateObject(obj), `${obj.kind}/${obj.metadata.name}`);
        }
      });

      it(`puts every namespaced object in ${NAMESPACE}`, () => {
        for (const obj of objects) {
          if (CLUSTER_SCOPED.includes(obj.kind)) continue;
          assert.equal(obj.metadata.namespace, NAMESPACE, `${obj.kind}/${obj.metadata.name}`);
        }
        const binding = objects.find((o) => o.kind === 'ClusterRoleBinding');
        const subjects = (binding?.subjects ?? []) as { kind: string; namespace?: string }[];
        assert.deepEqual(
          subjects.map((s) => s.namespace),
          [NAMESPACE],
        );
      });

      it('uses the image that the kustomization names, with its tag', async () => {
        const k = await readKustomization(join(deployDir, 'base'));
        const entry = k.images?.find((i) => i.name === 'datapath-exporter');
        assert.ok(entry?.newTag, 'base kustomization has no images: entry for datapath-exporter');
        const ds = objects.find((o) => o.kind === 'DaemonSet');
        assert.ok(ds);
        assert.deepEqual(
          containers(ds).map((c) => c.image),
          [`${entry.newName ?? entry.name}:${entry.newTag}`],
        );
      });
    });
  }

  describe('an overlay of the user', () => {
    let dir = '';

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kustomize-overlay-'));
    });

    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('moves the image to another registry and tag with images:', async () => {
      const base = relative(dir, join(deployDir, 'base'));
      await writeFile(
        join(dir, 'kustomization.yaml'),
        [
          'resources:',
          `  - ${base}`,
          'images:',
          '  - name: datapath-exporter',
          '    newName: registry.example/team/datapath-exporter',
          '    newTag: 9.9.9',
          '',
        ].join('\n'),
      );
      const ds = (await renderKustomization(dir)).find((o) => o.kind === 'DaemonSet');
      assert.ok(ds);
      assert.deepEqual(
        containers(ds).map((c) => c.image),
        ['registry.example/team/datapath-exporter:9.9.9'],
      );
    });
  });
});
