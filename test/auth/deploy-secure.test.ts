// deploy/overlays/secure (and its Prometheus Operator variant) render with
// the real kustomize into valid objects that fit together: the agent serves
// TLS from the certificate's Secret with Kubernetes auth, probes use HTTPS,
// the RBAC is exactly what the reviews need, and Prometheus (ServiceMonitor
// or scrape-config-secure.yaml) scrapes https with its token and checks the
// name the certificate carries.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { parse, stringify } from 'yaml';
import { loadWebConfig } from '../../src/export/access/web-config.js';
import { describeRun, run } from '../deploy/exec.js';
import { renderKustomization, type KubeObject } from '../deploy/kustomize.js';
import { deployDir, prometheusDir } from '../deploy/paths.js';
import { withFileSd, type ScrapeConfig } from '../deploy/scrape-simulation.js';
import { validateObject } from '../deploy/validate.js';
import { makeCa, makeCert } from '../support/certs.js';
import { tempDir } from './serve.js';

const SECURE = join(deployDir, 'overlays', 'secure');
const SECURE_OPERATOR = join(SECURE, 'prometheus-operator');
const CERT_MANAGER_KINDS = ['cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate'];

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

function all(objects: KubeObject[], kind: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind);
}

function one(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = all(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0] as KubeObject;
}

/** Every rule granted to a ServiceAccount through ClusterRoleBindings, as "group/resource verb" or "url verb". */
function grantsOf(objects: KubeObject[], namespace: string, name: string): string[] {
  const out: string[] = [];
  for (const b of all(objects, 'ClusterRoleBinding')) {
    const subjects = (b.subjects ?? []) as { kind: string; name: string; namespace?: string }[];
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace)) continue;
    const role = one(objects, 'ClusterRole', (b.roleRef as { name: string }).name);
    for (const r of (role.rules ?? []) as Rule[]) {
      for (const verb of r.verbs) {
        for (const res of r.resources ?? []) for (const g of r.apiGroups ?? []) out.push(`${g}/${res} ${verb}`);
        for (const url of r.nonResourceURLs ?? []) out.push(`${url} ${verb}`);
      }
    }
  }
  return out.sort();
}

describe('deploy: secure overlays (TLS + Kubernetes auth on /metrics)', function () {
  for (const dir of [SECURE, SECURE_OPERATOR]) {
    describe(dir.slice(deployDir.length + 1), function () {
      let objects: KubeObject[] = [];
      let ds: KubeObject & IDaemonSet;

      before(async function () {
        objects = await renderKustomization(dir);
        ds = one(objects, 'DaemonSet') as KubeObject & IDaemonSet;
      });

      it('renders valid objects, all in the agent namespace but the cluster-scoped ones', function () {
        for (const obj of objects) {
          if (CERT_MANAGER_KINDS.includes(`${obj.apiVersion}/${obj.kind}`)) {
            assert.ok(obj.spec, `${obj.kind}/${obj.metadata.name} has a spec`);
            continue;
          }
          if (obj.kind === 'ConfigMap') continue;
          assert.doesNotThrow(() => validateObject(obj), `${obj.kind}/${obj.metadata.name}`);
        }
        for (const obj of objects) {
          if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind)) continue;
          assert.equal(obj.metadata.namespace, 'datapath-exporter', `${obj.kind}/${obj.metadata.name}`);
        }
      });

      it('grants the agent pod reads and the two reviews, and Prometheus get on /metrics only', function () {
        assert.deepEqual(grantsOf(objects, 'datapath-exporter', 'datapath-exporter'), [
          '/pods get',
          '/pods list',
          '/pods watch',
          'authentication.k8s.io/tokenreviews create',
          'authorization.k8s.io/subjectaccessreviews create',
        ]);
        assert.deepEqual(grantsOf(objects, 'monitoring', 'prometheus-k8s'), ['/metrics get']);
      });

      it("runs the agent with the web config and Kubernetes auth, its certificate from the Certificate's Secret, probes over HTTPS", function () {
        const pod = ds.spec?.template.spec;
        assert.ok(pod);
        const c = pod.containers[0];
        assert.ok(c);
        assert.ok(c.args?.includes('--metrics-auth=kubernetes'));
        const webArg = c.args?.find((a) => a.startsWith('--web-config-file='));
        assert.ok(webArg);
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
          assert.equal(probe?.httpGet?.scheme, 'HTTPS');
          assert.ok(['/healthz', '/readyz'].includes(probe?.httpGet?.path ?? ''));
        }
        // The web config file is the ConfigMap's, mounted where the flag says.
        const webPath = webArg.slice('--web-config-file='.length);
        const webMount = c.volumeMounts?.find((m) => webPath.startsWith(`${m.mountPath}/`));
        const webVolume = pod.volumes?.find((v) => v.name === webMount?.name);
        const cm = one(objects, 'ConfigMap', webVolume?.configMap?.name);
        const web = parse((cm.data as Record<string, string>)[webPath.slice((webMount?.mountPath ?? '').length + 1)] ?? '') as {
          tls_server_config: { cert_file: string; key_file: string };
        };
        // Its certificate and key come from the Secret the serving Certificate writes.
        const tlsMount = c.volumeMounts?.find((m) => web.tls_server_config.cert_file.startsWith(`${m.mountPath}/`));
        assert.equal(tlsMount?.readOnly, true);
        const secretName = pod.volumes?.find((v) => v.name === tlsMount?.name)?.secret?.secretName;
        const certs = all(objects, 'Certificate').filter((o) => !(o.spec as { isCA?: boolean }).isCA);
        assert.deepEqual(
          certs.map((o) => (o.spec as { secretName: string }).secretName),
          [secretName],
        );
        assert.ok(web.tls_server_config.key_file.startsWith(`${tlsMount?.mountPath}/`));
      });

      it("ships a web config the agent accepts (with the Secret's files in place)", function () {
        const tmp = tempDir('dpx-overlay-web-');
        try {
          const cm = all(objects, 'ConfigMap').find((o) => o.metadata.name.startsWith('datapath-exporter-web-config'));
          const text = (cm?.data as Record<string, string>)['web-config.yaml'] ?? '';
          const ca = makeCa(tmp.dir, 'ca');
          const server = makeCert(tmp.dir, 'server', ca, { cn: 'datapath-exporter.datapath-exporter.svc' });
          copyFileSync(server.cert, join(tmp.dir, 'tls.crt'));
          copyFileSync(server.key, join(tmp.dir, 'tls.key'));
          const path = join(tmp.dir, 'web-config.yaml');
          writeFileSync(path, text.replaceAll('/etc/datapath-exporter/tls/', `${tmp.dir}/`));
          const config = loadWebConfig(path);
          assert.equal(config.tls?.clientAuthType, 'NoClientCert', 'probes and Prometheus present no client certificate');
        } finally {
          tmp.remove();
        }
      });
    });
  }

  it('ServiceMonitor: https, the bearer token, the CA of the certificate and the name it carries', async function () {
    const objects = await renderKustomization(SECURE_OPERATOR);
    const ep = (one(objects, 'ServiceMonitor').spec as { endpoints: Record<string, unknown>[] }).endpoints[0];
    assert.ok(ep);
    assert.equal(ep.scheme, 'https');
    assert.equal(ep.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
    const tls = ep.tlsConfig as { ca: { secret: { name: string; key: string } }; serverName: string };
    const cert = all(objects, 'Certificate').find((o) => !(o.spec as { isCA?: boolean }).isCA);
    const spec = cert?.spec as { secretName: string; dnsNames: string[] };
    assert.deepEqual(tls.ca.secret, { name: spec.secretName, key: 'ca.crt' });
    assert.ok(spec.dnsNames.includes(tls.serverName));
    // Same relabeling as the plain overlay's ServiceMonitor.
    const plain = await renderKustomization(join(deployDir, 'overlays', 'prometheus-operator'));
    const plainEp = (one(plain, 'ServiceMonitor').spec as { endpoints: Record<string, unknown>[] }).endpoints[0];
    assert.deepEqual(ep.relabelings, plainEp?.relabelings);
    assert.deepEqual(ep.metricRelabelings, plainEp?.metricRelabelings);
  });

  describe('scrape-config-secure.yaml', function () {
    const tmp = tempDir('dpx-scrape-secure-');
    after(function () {
      tmp.remove();
    });

    function secureJob(): ScrapeConfig {
      const doc = parse(readFileSync(join(prometheusDir, 'scrape-config-secure.yaml'), 'utf8')) as { scrape_configs: ScrapeConfig[] };
      assert.equal(doc.scrape_configs.length, 1);
      return doc.scrape_configs[0] as ScrapeConfig;
    }

    it('is the plain job plus https, the bearer token and tls_config naming the certificate', async function () {
      const job = secureJob();
      const plain = (parse(readFileSync(join(prometheusDir, 'scrape-config.yaml'), 'utf8')) as { scrape_configs: ScrapeConfig[] })
        .scrape_configs[0];
      const { scheme, authorization, tls_config, ...rest } = job;
      assert.deepEqual(rest, plain);
      assert.equal(scheme, 'https');
      assert.deepEqual(authorization, { type: 'Bearer', credentials_file: '/var/run/secrets/kubernetes.io/serviceaccount/token' });
      const objects = await renderKustomization(SECURE);
      const cert = all(objects, 'Certificate').find((o) => !(o.spec as { isCA?: boolean }).isCA);
      assert.ok((cert?.spec as { dnsNames: string[] }).dnsNames.includes((tls_config as { server_name: string }).server_name));
    });

    it('passes promtool check config', async function () {
      const job = secureJob();
      const ca = makeCa(tmp.dir, 'ca');
      const token = join(tmp.dir, 'token');
      writeFileSync(token, 'x');
      (job.tls_config as { ca_file: string }).ca_file = ca.cert;
      (job.authorization as { credentials_file: string }).credentials_file = token;
      const sd = join(tmp.dir, 'targets.json');
      writeFileSync(sd, '[]');
      const config = join(tmp.dir, 'prometheus.yml');
      writeFileSync(config, stringify({ scrape_configs: [withFileSd(job, sd)] }));
      const r = await run('promtool', ['check', 'config', config]);
      assert.equal(r.code, 0, describeRun('promtool', ['check', 'config', config], r));
    });
  });
});
