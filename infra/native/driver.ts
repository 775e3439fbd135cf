/**
 * better-sqlite3 for AWS Lambda, built from source on this machine, once, into a layer folder.
 *
 * The binary in node_modules/better-sqlite3 is the one the local runtime and the tests use: it
 * is built for the Node that ran `npm ci` (20 here, ABI 115) and must not be touched. Lambda's
 * `nodejs22.x` needs ABI 127 (`node_register_module_v127`), the function's CPU, and at most
 * Amazon Linux 2023's glibc 2.34 / GLIBCXX_3.4.29. Prebuilt downloads (prebuild-install, GitHub)
 * are not reachable here, so the package's own sources are copied to a cache folder and compiled
 * there with node-gyp against Node 22's headers, which ship in the npm package
 * `node-linux-<arch>@22` (fetched with `npm pack` into the cache, never into the dependencies:
 * its `bin/node` would replace `node` in every npm script).
 *
 * libstdc++ stays dynamically linked, on purpose: measured on Debian 12 (glibc 2.36, g++ 12),
 * the dynamic build needs at most GLIBC_2.34 and GLIBCXX_3.4.29, while `-static-libstdc++
 * -static-libgcc` pulls in `arc4random` (GLIBC_2.36) and `_dl_find_object` (GLIBC_2.35) from
 * the static archives and would not load on Amazon Linux 2023. Both ceilings depend on the
 * build host, so {@link inspectBinary} checks every build, and the build fails loudly (use
 * `-c driverBuild=docker`) on a host whose toolchain is too new.
 *
 * Everything lands under `.cache/native/` (gitignored), keyed on the better-sqlite3 version,
 * the Node 22 ABI, the CPU and {@link RECIPE}; a complete layer is reused, never rebuilt.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Repository root (this file is infra/native/driver.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CACHE_DIR = path.join(REPO_ROOT, '.cache', 'native');

/** The Node 22 release whose headers and binary are used; any 22.x has ABI 127. */
export const NODE22_VERSION = '22.23.3';
export const NODE22_ABI = 127;
/** Amazon Linux 2023, the OS of the nodejs22.x runtime. */
export const MAX_GLIBC = '2.34';
export const MAX_GLIBCXX = '3.4.29';
/** Bump when the build steps change, so cached layers are rebuilt. */
export const RECIPE = 3;

export type DriverArch = 'x64' | 'arm64';

const ELF_MACHINE: Readonly<Record<DriverArch, string>> = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

/** The files of each package that the layer carries (better-sqlite3's binary is added apart). */
const RUNTIME_FILES: Readonly<Record<string, readonly string[]>> = {
  'better-sqlite3': ['package.json', 'LICENSE', 'lib'],
  bindings: ['package.json', 'LICENSE.md', 'bindings.js'],
  'file-uri-to-path': ['package.json', 'LICENSE', 'index.js'],
};

export interface DriverLayer {
  /** Folder to use as the layer's content: it holds `nodejs/node_modules/...`. */
  readonly layerDir: string;
  readonly binary: string;
  readonly key: string;
  readonly inspection: BinaryInspection;
  /** False when a cached layer was reused. */
  readonly built: boolean;
}

export interface BinaryInspection {
  /** `readelf -h` Machine, e.g. "Advanced Micro Devices X86-64" or "AArch64". */
  readonly machine: string;
  /** Dynamic symbols named `node_register_module_v<N>`. */
  readonly moduleRegisterSymbols: readonly string[];
  readonly maxGlibc: string | undefined;
  readonly maxGlibcxx: string | undefined;
  /** DT_NEEDED shared libraries. */
  readonly needed: readonly string[];
}

function packageDir(name: string, from: string = REPO_ROOT): string {
  return path.dirname(require.resolve(`${name}/package.json`, { paths: [from] }));
}

/** The installed better-sqlite3 version: the layer always matches what the code was typed against. */
export function driverVersion(): string {
  const manifest: unknown = JSON.parse(fs.readFileSync(path.join(packageDir('better-sqlite3'), 'package.json'), 'utf8'));
  if (manifest && typeof manifest === 'object' && 'version' in manifest && typeof manifest.version === 'string') return manifest.version;
  throw new Error('better-sqlite3/package.json has no version');
}

export function layerKey(arch: DriverArch): string {
  return `better-sqlite3-${driverVersion()}-node${NODE22_ABI}-linux-${arch}-r${RECIPE}`;
}

export function layerDirFor(arch: DriverArch): string {
  return path.join(CACHE_DIR, 'layers', layerKey(arch));
}

/** Where the layer keeps the compiled driver. */
export function binaryPath(layerDir: string): string {
  return path.join(layerDir, 'nodejs', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
}

/** Node 22 for `arch` (headers in `include/node`, the binary in `bin/node`), fetched once. */
export function ensureNode22(arch: DriverArch, log: (line: string) => void = () => undefined): string {
  const dir = path.join(CACHE_DIR, `node-v${NODE22_VERSION}-linux-${arch}`);
  if (fs.existsSync(path.join(dir, 'include', 'node', 'node_version.h')) && fs.existsSync(path.join(dir, 'bin', 'node'))) return dir;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const spec = `node-linux-${arch}@${NODE22_VERSION}`;
  log(`fetching ${spec} (Node 22 headers and binary) into ${path.relative(REPO_ROOT, CACHE_DIR)}`);
  const tarball = execFileSync('npm', ['pack', spec, '--pack-destination', CACHE_DIR, '--silent'], {
    cwd: CACHE_DIR,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
    .trim()
    .split('\n')
    .pop();
  if (!tarball) throw new Error(`npm pack ${spec} printed no file name`);
  const staging = `${dir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  execFileSync('tar', ['xzf', path.join(CACHE_DIR, tarball), '--strip-components=1', '-C', staging]);
  fs.rmSync(path.join(CACHE_DIR, tarball), { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return dir;
}

/**
 * A driver build that cannot start on this host, or a compiled driver Lambda would refuse. Its
 * message is one line that says what to do; `infra/app.ts` prints it alone, without a stack.
 */
export class DriverBuildError extends Error {
  override name = 'DriverBuildError';
}

/** Whether a command is on the PATH; injectable so tests need not uninstall a compiler. */
export type CommandLookup = (command: string) => boolean;

/** Looks `command` up on `PATH` the way a shell would (an executable file in one of its folders). */
export function onPath(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (command.includes('/')) return isExecutable(command);
  return (env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && isExecutable(path.join(dir, command)));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The Debian package that provides each tool a local build runs (node-gyp runs the first three). */
const BUILD_TOOLS: readonly { readonly role: string; readonly candidates: (env: NodeJS.ProcessEnv) => string[]; readonly apt: string }[] = [
  { role: 'make', candidates: () => ['make'], apt: 'build-essential' },
  // node-gyp compiles with $CXX when it is set (first word: `ccache g++` runs ccache).
  { role: 'g++', candidates: (env) => [env.CXX?.trim().split(/\s+/)[0] || 'g++'], apt: 'build-essential' },
  // node-gyp's own search order: $PYTHON, then python3, then python.
  { role: 'python3', candidates: (env) => [...(env.PYTHON ? [env.PYTHON] : []), 'python3', 'python'], apt: 'python3' },
  // readelf proves each build loads on Amazon Linux 2023 (ABI, glibc and libstdc++ ceilings).
  { role: 'readelf', candidates: () => ['readelf'], apt: 'binutils' },
];

/** The build tools missing on this host, by the name a user would install. */
export function missingBuildTools(lookup: CommandLookup = onPath, env: NodeJS.ProcessEnv = process.env): string[] {
  return BUILD_TOOLS.filter((tool) => !tool.candidates(env).some((command) => lookup(command))).map((tool) => tool.role);
}

/** Throws one line saying what to install (or to build in Docker) when a tool is missing. */
export function assertBuildTools(lookup: CommandLookup = onPath, env: NodeJS.ProcessEnv = process.env): void {
  const missing = missingBuildTools(lookup, env);
  if (missing.length === 0) return;
  const packages = [...new Set(BUILD_TOOLS.filter((tool) => missing.includes(tool.role)).map((tool) => tool.apt))];
  throw new DriverBuildError(
    `cannot compile the SQLite driver for Lambda here: ${missing.join(', ')} not found. ` +
      `Install them (Debian/Ubuntu: apt-get install -y ${packages.join(' ')}) or build in Docker with -c driverBuild=docker`,
  );
}

/** Whether a complete layer for `arch` is cached (then nothing needs compiling). */
export function driverLayerCached(arch: DriverArch): boolean {
  const layerDir = layerDirFor(arch);
  return fs.existsSync(`${layerDir}.complete`) && fs.existsSync(binaryPath(layerDir));
}

/** npm's own node-gyp (npm ships one; the project does not depend on it). */
function nodeGyp(): string {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(REPO_ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const candidate of candidates) if (candidate && fs.existsSync(candidate)) return candidate;
  try {
    const npmRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const bundled = path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (fs.existsSync(bundled)) return bundled;
  } catch {
    // fall through to the error below
  }
  throw new DriverBuildError('node-gyp not found (it ships with npm): reinstall npm, or build in Docker with -c driverBuild=docker');
}

/** Reads the ELF header, dynamic symbols and version needs of a shared object with binutils. */
export function inspectBinary(file: string): BinaryInspection {
  const header = execFileSync('readelf', ['-h', file], { encoding: 'utf8' });
  const machine = /^\s*Machine:\s*(.+)$/m.exec(header)?.[1]?.trim() ?? 'unknown';
  const symbols = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const moduleRegisterSymbols = [...new Set(symbols.match(/\bnode_register_module_v\d+\b/g) ?? [])];
  const versions = execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const dynamic = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((match) => match[1] ?? '');
  return {
    machine,
    moduleRegisterSymbols,
    maxGlibc: maxVersion(versions, 'GLIBC_'),
    maxGlibcxx: maxVersion(versions, 'GLIBCXX_'),
    needed,
  };
}

function maxVersion(text: string, prefix: string): string | undefined {
  const found = [...text.matchAll(new RegExp(`\\b${prefix}(\\d+(?:\\.\\d+)*)\\b`, 'g'))].map((match) => match[1] ?? '');
  return found.sort(compareVersions).pop();
}

/** Numeric dotted-version order: 2.9 < 2.34, 3.4.29 < 3.4.30. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Why this binary would not load on Lambda nodejs22.x for `arch`; empty when it would. */
export function lambdaIncompatibilities(inspection: BinaryInspection, arch: DriverArch): string[] {
  const problems: string[] = [];
  if (inspection.machine !== ELF_MACHINE[arch]) problems.push(`ELF machine is ${inspection.machine}, expected ${ELF_MACHINE[arch]}`);
  if (!inspection.moduleRegisterSymbols.includes(`node_register_module_v${NODE22_ABI}`)) {
    problems.push(`no node_register_module_v${NODE22_ABI} (found: ${inspection.moduleRegisterSymbols.join(', ') || 'none'})`);
  }
  if (inspection.maxGlibc && compareVersions(inspection.maxGlibc, MAX_GLIBC) > 0) {
    problems.push(`needs GLIBC_${inspection.maxGlibc}, Amazon Linux 2023 has ${MAX_GLIBC}`);
  }
  if (inspection.maxGlibcxx && compareVersions(inspection.maxGlibcxx, MAX_GLIBCXX) > 0) {
    problems.push(`needs GLIBCXX_${inspection.maxGlibcxx}, Amazon Linux 2023 has ${MAX_GLIBCXX}`);
  }
  return problems;
}

/** A cross-process lock (jest workers, a synth next to a test run): mkdir is atomic. */
function withLock<T>(name: string, work: () => T): T {
  const lock = path.join(CACHE_DIR, `${name}.lock`);
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = fs.statSync(lock, { throwIfNoEntry: false });
      if (stat && Date.now() - stat.mtimeMs > 15 * 60_000) fs.rmSync(lock, { recursive: true, force: true }); // a killed build
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return work();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

export interface BuildOptions {
  readonly arch?: DriverArch;
  /** Rebuild even if a complete layer is cached. */
  readonly force?: boolean;
  readonly log?: (line: string) => void;
  /** PATH lookup for the build tools (tests inject one). */
  readonly commandExists?: CommandLookup;
}

/**
 * The layer folder for `arch`, compiled on first use (about 2 minutes on 2 cores) and reused
 * afterwards. Throws if the result would not load on Lambda.
 */
export function ensureDriverLayer(options: BuildOptions = {}): DriverLayer {
  const arch = options.arch ?? 'x64';
  const log = options.log ?? ((line: string) => process.stderr.write(`[driver] ${line}\n`));
  const key = layerKey(arch);
  const layerDir = layerDirFor(arch);
  const marker = `${layerDir}.complete`;
  const cached = (): DriverLayer | undefined =>
    !options.force && fs.existsSync(marker) && fs.existsSync(binaryPath(layerDir))
      ? { layerDir, binary: binaryPath(layerDir), key, inspection: inspectBinary(binaryPath(layerDir)), built: false }
      : undefined;

  const hit = cached();
  if (hit) return hit;
  return withLock(key, () => {
    const again = cached(); // another process may have finished it while we waited
    if (again) return again;
    if (arch !== 'x64' || process.arch !== 'x64' || process.platform !== 'linux') {
      throw new DriverBuildError(
        `the local driver build compiles for linux-x64 on a linux-x64 host only (asked for linux-${arch} on ${process.platform}-${process.arch}); use -c driverBuild=docker`,
      );
    }
    // Checked before anything is fetched or compiled: a missing compiler would otherwise
    // surface minutes later as a node-gyp stack trace.
    assertBuildTools(options.commandExists);
    const started = Date.now();
    const nodeDir = ensureNode22(arch, log);
    const buildDir = path.join(CACHE_DIR, 'build', key);
    fs.rmSync(buildDir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(buildDir), { recursive: true });
    // A copy of the package's sources: node_modules/better-sqlite3 keeps its Node 20 build.
    fs.cpSync(packageDir('better-sqlite3'), buildDir, {
      recursive: true,
      filter: (source) => !source.startsWith(path.join(packageDir('better-sqlite3'), 'build')),
    });
    log(`compiling better-sqlite3 ${driverVersion()} for Node ${NODE22_VERSION} (ABI ${NODE22_ABI}) linux-${arch}; about 2 minutes`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (/^npm_config_(nodedir|target|arch|runtime|dist_url|devdir)$/i.test(name)) delete env[name];
    // npm_config_nodedir wins over every other source of headers, including the user's npmrc
    // (which here points at the system Node 20's headers); --nodedir alone would lose to it.
    env.npm_config_nodedir = nodeDir;
    env.npm_config_arch = arch;
    env.npm_config_target = NODE22_VERSION;
    execFileSync(process.execPath, [nodeGyp(), 'rebuild', '--release', `--nodedir=${nodeDir}`, `--arch=${arch}`, '--jobs=max'], {
      cwd: buildDir,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    });
    const built = path.join(buildDir, 'build', 'Release', 'better_sqlite3.node');
    const inspection = inspectBinary(built);
    const problems = lambdaIncompatibilities(inspection, arch);
    if (problems.length > 0) {
      throw new DriverBuildError(`the compiled driver would not load on Lambda: ${problems.join('; ')}. Use -c driverBuild=docker`);
    }

    const staging = `${layerDir}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    const modules = path.join(staging, 'nodejs', 'node_modules');
    const sources: Record<string, string> = {
      'better-sqlite3': buildDir,
      bindings: packageDir('bindings', packageDir('better-sqlite3')),
      'file-uri-to-path': packageDir('file-uri-to-path', packageDir('bindings', packageDir('better-sqlite3'))),
    };
    for (const [name, files] of Object.entries(RUNTIME_FILES)) {
      for (const file of files) {
        const from = path.join(sources[name] ?? '', file);
        if (fs.existsSync(from)) fs.cpSync(from, path.join(modules, name, file), { recursive: true });
      }
    }
    fs.mkdirSync(path.dirname(binaryPath(staging)), { recursive: true });
    fs.copyFileSync(built, binaryPath(staging));
    fs.rmSync(layerDir, { recursive: true, force: true });
    fs.renameSync(staging, layerDir);
    fs.writeFileSync(marker, `${JSON.stringify({ key, node: NODE22_VERSION, inspection, builtAt: new Date().toISOString() }, null, 2)}\n`);
    fs.rmSync(buildDir, { recursive: true, force: true });
    log(`driver layer ready in ${Math.round((Date.now() - started) / 1000)} s: ${path.relative(REPO_ROOT, layerDir)}`);
    return { layerDir, binary: binaryPath(layerDir), key, inspection, built: true };
  });
}
