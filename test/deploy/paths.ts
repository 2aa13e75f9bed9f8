// Where the deploy and dashboard files are, from the compiled test's location
// (dist/test/<suite>/*.js), so that tests do not depend on the working directory.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const deployDir = join(repoRoot, 'deploy');
export const prometheusDir = join(deployDir, 'prometheus');
export const dashboardsDir = join(repoRoot, 'dashboards');
