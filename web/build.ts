/**
 * Builds the web client (`web/` -> `web/dist`) with Vite when its sources changed, so a fresh
 * clone works after `npm ci` alone: `npm start`, the test suite and the CDK bundling all call
 * this; the build output is not committed.
 *
 * "Changed" is a hash of every source file of `web/` and the lockfile, kept in
 * `web/dist/.source-hash`; an up-to-date build costs one hash (~10 ms). A lock directory keeps
 * concurrent callers (parallel test workers each starting `npm start`) from building twice, and
 * the new build replaces the old one by renames, so a reader never sees half a folder.
 *
 * `node --import tsx web/build.ts [--force]` runs it by hand (`npm run build:web`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const WEB_ROOT = __dirname;
export const WEB_DIST = path.join(WEB_ROOT, 'dist');
const HASH_FILE = '.source-hash';
const LOCK = path.join(WEB_ROOT, '.build-lock');
/** A lock older than this belongs to a build that died. */
const STALE_LOCK_MS = 120_000;

function sourceFiles(dir: string, found: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'dist' || entry.name === 'node_modules') continue;
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(file, found);
    else found.push(file);
  }
  return found;
}

/** What the build depends on: the web sources and the exact dependency versions. */
export function sourceHash(): string {
  const hash = createHash('sha256');
  const files = [...sourceFiles(WEB_ROOT).sort(), path.join(WEB_ROOT, '..', 'package-lock.json')];
  for (const file of files) {
    hash.update(path.relative(WEB_ROOT, file)).update('\0');
    hash.update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function builtHash(): string | undefined {
  try {
    return fs.readFileSync(path.join(WEB_DIST, HASH_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function isFresh(): boolean {
  return fs.existsSync(path.join(WEB_DIST, 'index.html')) && builtHash() === sourceHash();
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + STALE_LOCK_MS;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - (fs.statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS || Date.now() > deadline) fs.rmSync(LOCK, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds unless up to date; answers whether it built. */
export async function ensureWebBuild(options: { force?: boolean; log?: (line: string) => void } = {}): Promise<boolean> {
  if (!options.force && isFresh()) return false;
  return withLock(async () => {
    if (!options.force && isFresh()) return false; // someone else built it while we waited
    const hash = sourceHash();
    const started = Date.now();
    options.log?.('Building the web client (web/ -> web/dist)...');
    const temporary = path.join(WEB_ROOT, `.dist-${process.pid}`);
    // Vite runs in a child process: a build sets NODE_ENV=production in its own process and
    // leaves its modules loaded, neither of which the server that called us should inherit.
    const vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
    const args = [vite, 'build', WEB_ROOT, '--config', path.join(WEB_ROOT, 'vite.config.mts'), '--outDir', temporary, '--emptyOutDir', '--logLevel', 'warn'];
    const env: NodeJS.ProcessEnv = { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' };
    delete env.NODE_ENV;
    try {
      await promisify(execFile)(process.execPath, args, { cwd: WEB_ROOT, env, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      fs.rmSync(temporary, { recursive: true, force: true });
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`Building the web client failed:\n${stderr ?? ''}${stdout ?? ''}`, { cause: error });
    }
    fs.writeFileSync(path.join(temporary, HASH_FILE), `${hash}\n`);
    const old = path.join(WEB_ROOT, `.dist-old-${process.pid}`);
    if (fs.existsSync(WEB_DIST)) fs.renameSync(WEB_DIST, old);
    fs.renameSync(temporary, WEB_DIST);
    fs.rmSync(old, { recursive: true, force: true });
    options.log?.(`Built the web client in ${Date.now() - started} ms`);
    return true;
  });
}

if (require.main === module) {
  ensureWebBuild({ force: process.argv.includes('--force'), log: (line) => console.log(line) }).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
