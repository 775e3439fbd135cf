/**
 * `npm run build:driver [-- --force]`: builds (or reuses) the better-sqlite3 layer for Lambda
 * and prints what it checked. `npm run synth` does the same on demand; this is for CI caches
 * and for seeing the checks.
 */
import { DriverBuildError, ensureDriverLayer, lambdaIncompatibilities, REPO_ROOT } from './driver';
import path from 'node:path';

try {
  const layer = ensureDriverLayer({ force: process.argv.includes('--force') });
  const problems = lambdaIncompatibilities(layer.inspection, 'x64');
  process.stdout.write(
    `${JSON.stringify({ layer: path.relative(REPO_ROOT, layer.layerDir), built: layer.built, ...layer.inspection, problems }, null, 2)}\n`,
  );
  process.exitCode = problems.length > 0 ? 1 : 0;
} catch (error) {
  if (!(error instanceof DriverBuildError)) throw error;
  process.stderr.write(`error: ${error.message}\n`);
  process.exitCode = 1;
}
