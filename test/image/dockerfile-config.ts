// The runtime stage's image config as deploy/Dockerfile declares it
// (ENTRYPOINT, CMD, ENV, WORKDIR of the last stage), so that the suite can
// derive the container's run config without building the image; the image
// test checks the built image's config is this.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployDir } from '../deploy/paths.js';
import type { ImageConfig } from './runtime-config.js';

/** ENV of Debian's base images (the runtime stage's FROM); the Dockerfile adds to it. */
export const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

export function dockerfileImageConfig(path = join(deployDir, 'Dockerfile')): ImageConfig {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const last = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  const config: ImageConfig = { Env: [...BASE_ENV], WorkingDir: '' };
  for (const line of lines.slice(last + 1)) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (op.toUpperCase()) {
      case 'ENTRYPOINT':
        config.Entrypoint = JSON.parse(args) as string[];
        config.Cmd = null; // Docker: a new ENTRYPOINT resets an inherited CMD
        break;
      case 'CMD':
        config.Cmd = JSON.parse(args) as string[];
        break;
      case 'ENV':
        for (const kv of rest) config.Env = [...(config.Env ?? []).filter((e) => !e.startsWith(`${kv.split('=')[0]}=`)), kv];
        break;
      case 'WORKDIR':
        config.WorkingDir = args;
        break;
    }
  }
  return config;
}
