// Renders a kustomization with the real kustomize (kubectl's built-in
// `kubectl kustomize`, or a standalone `kustomize build`) into objects.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { run, describeRun } from './exec.js';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function isKubeObject(x: unknown): x is KubeObject {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof meta?.name === 'string';
}

/** Every YAML document of a multi-document text, each a Kubernetes object. */
export function parseObjects(text: string, what: string): KubeObject[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${what} #${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj: unknown = doc.toJS();
    if (!isKubeObject(obj)) throw new Error(`${what} #${i}: not a Kubernetes object`);
    return obj;
  });
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      await access(join(dir, cmd));
      return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/** kubectl kustomize DIR (kubectl ships kustomize), else kustomize build DIR. */
export async function renderKustomization(dir: string): Promise<KubeObject[]> {
  let cmd: string;
  let args: string[];
  if (await onPath('kubectl')) [cmd, args] = ['kubectl', ['kustomize', dir]];
  else if (await onPath('kustomize')) [cmd, args] = ['kustomize', ['build', dir]];
  else throw new Error('neither kubectl nor kustomize is on PATH: cannot render the kustomizations');
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(describeRun(cmd, args, r));
  return parseObjects(r.stdout, `${cmd} ${args.join(' ')}`);
}

export interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
}

export async function readKustomization(dir: string): Promise<Kustomization> {
  const k: unknown = parse(await readFile(join(dir, 'kustomization.yaml'), 'utf8'));
  if (typeof k !== 'object' || k === null) throw new Error(`${dir}/kustomization.yaml: not a mapping`);
  return k as Kustomization;
}
