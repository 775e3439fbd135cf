/**
 * The function bundles as `cdk deploy` uploads them (the stack synthesized with bundling on),
 * against stubs: for each function, a stub that imports the same AWS SDK clients and nothing
 * else, built with the same esbuild options as the functions. Budgets (issue 12):
 *  - a function with no AWS SDK client (the JWT functions included: they sign their one Secrets
 *    Manager call themselves, lib/aws/secrets-manager.ts): at most 250 KB of JavaScript;
 *  - every function that bundles an SDK client: at most 1.2x its stub's size;
 *  - time to `require` each bundle in a fresh Node 22 process: at most 1.2x its stub's.
 * Plus, information only: the same require with `--enable-source-maps`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { BUNDLE_OPTIONS } from '../infra/constructs/api-function';
import { synthesizeAssets, type FunctionAsset } from '../infra/function-assets';
import { ensureNode22, REPO_ROOT } from '../infra/native/driver';
import { ratioOnly, ratioWithin, type Verdict } from './budgets';
import type { ComparisonResult } from './comparisons';
import { median } from './stats';

const SIZE_LIMIT_BYTES = 250 * 1000;
const RATIO_LIMIT = 1.2;
const REQUIRE_RUNS = 9;

/** SDK packages whose presence in a bundle the stub reproduces, with what the stub imports. */
const SDK_PACKAGES: Readonly<Record<string, string>> = {
  '@aws-sdk/client-s3': "import { S3Client } from '@aws-sdk/client-s3';\nkeep(new S3Client({}));",
  '@aws-sdk/s3-request-presigner': "import { getSignedUrl } from '@aws-sdk/s3-request-presigner';\nkeep(getSignedUrl);",
};

interface Measured {
  readonly asset: FunctionAsset;
  readonly bytes: number;
  readonly mapBytes: number;
  readonly sdk: readonly string[];
  readonly stubFile: string;
  readonly stubBytes: number;
}

/** The SDK packages a bundle contains, read from its source map's `sources`. */
function sdkPackagesIn(mapFile: string): string[] {
  const map = JSON.parse(fs.readFileSync(mapFile, 'utf8')) as { sources: string[] };
  return Object.keys(SDK_PACKAGES).filter((name) => map.sources.some((source) => source.includes(`node_modules/${name}/`)));
}

/** One stub per distinct set of SDK packages, bundled like the functions (minified CJS for Node 22, SDK inside). */
function buildStub(dir: string, sdk: readonly string[]): string {
  const name = sdk.length ? sdk.map((pkg) => pkg.replace(/^@aws-sdk\//, '')).join('+') : 'no-sdk';
  const outfile = path.join(dir, name, 'index.js');
  if (fs.existsSync(outfile)) return outfile;
  const entry = path.join(dir, name, 'stub.ts');
  fs.mkdirSync(path.dirname(entry), { recursive: true });
  const lines = ['const kept: unknown[] = [];', 'const keep = (value: unknown) => kept.push(value);', ...sdk.map((pkg) => SDK_PACKAGES[pkg] ?? '')];
  // Imports first, as TypeScript requires; the statements after them keep each client alive.
  const imports = lines.join('\n').split('\n').filter((line) => line.startsWith('import '));
  const rest = lines.join('\n').split('\n').filter((line) => !line.startsWith('import '));
  fs.writeFileSync(entry, [...imports, ...rest, 'export const handler = async () => ({ statusCode: 200, body: String(kept.length) });', ''].join('\n'));
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: BUNDLE_OPTIONS.format,
    target: BUNDLE_OPTIONS.target,
    minify: BUNDLE_OPTIONS.minify,
    mainFields: [...BUNDLE_OPTIONS.mainFields],
    nodePaths: [path.join(REPO_ROOT, 'node_modules')],
    logLevel: 'error',
  });
  return outfile;
}

/**
 * Plausible literals for template values that are CloudFormation tokens, by variable (each must
 * pass lib/config.ts, which validates at cold start); anything else is a region reference.
 */
const TOKEN_STAND_INS: Readonly<Record<string, string>> = {
  JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:JwtSecret-AbCdEf',
  MFA_ENCRYPTION_KEY_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:MfaEncryptionKey-AbCdEf',
  S3_BUCKET: 'bench-uploads-bucket',
  APP_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
  MAIL_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/mail',
};

function literalEnvironment(asset: FunctionAsset): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(asset.environment)) {
    env[name] = typeof value === 'string' ? value : (TOKEN_STAND_INS[name] ?? 'eu-west-1');
  }
  return env;
}

interface RequireTiming {
  /** Milliseconds `require()` of the bundle took inside the process. */
  readonly requireMs: number;
  /** Milliseconds from spawning Node to its exit after the require (Node's own start included). */
  readonly processMs: number;
}

const REQUIRE_SCRIPT = `const t = process.hrtime.bigint(); require(process.env.BENCH_BUNDLE); process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;

function timeRequire(node: string, file: string, env: Record<string, string>, sourceMaps: boolean): RequireTiming {
  const started = process.hrtime.bigint();
  const result = spawnSync(node, [...(sourceMaps ? ['--enable-source-maps'] : []), '-e', REQUIRE_SCRIPT], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, BENCH_BUNDLE: file },
    encoding: 'utf8',
  });
  const processMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`require(${file}) failed in Node 22: ${result.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
  return { requireMs: Number(result.stdout), processMs };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const msStat = (samples: readonly number[]) => `median ${median(samples).toFixed(1)}`;

/** Measures every function bundle against its stub; one table row per budget. */
export function measureBundles(log: (line: string) => void = () => undefined): ComparisonResult[] {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-bundles-'));
  try {
    log('synthesizing the stack with bundling on (what cdk deploy uploads)...');
    const assets = synthesizeAssets(path.join(work, 'cdk.out'));
    const node = path.join(ensureNode22('x64'), 'bin', 'node');
    if (!assets.driverLayerDir) throw new Error('the benchmark measures the default (SQLite) variant, which has the driver layer');
    const layerModules = path.join(assets.driverLayerDir, 'nodejs', 'node_modules');
    const measured: Measured[] = assets.functions.map((asset) => {
      const file = path.join(asset.dir, 'index.js');
      const sdk = sdkPackagesIn(`${file}.map`);
      const stubFile = buildStub(path.join(work, 'stubs'), sdk);
      return { asset, bytes: fs.statSync(file).size, mapBytes: fs.statSync(`${file}.map`).size, sdk, stubFile, stubBytes: fs.statSync(stubFile).size };
    });

    log(`timing require() in fresh Node 22 processes, ${REQUIRE_RUNS} interleaved runs each...`);
    type Series = 'bundle' | 'stub' | 'sourceMaps';
    const samples = new Map<string, Record<Series, RequireTiming[]>>(measured.map((m) => [m.asset.handler, { bundle: [], stub: [], sourceMaps: [] }]));
    for (let round = 0; round < REQUIRE_RUNS; round += 1) {
      for (const m of measured) {
        const env = {
          ...literalEnvironment(m.asset),
          AWS_LAMBDA_FUNCTION_NAME: m.asset.handler,
          AWS_REGION: 'eu-west-1',
          // Lambda puts layers under /opt; /opt/nodejs/node_modules is on its NODE_PATH.
          ...(m.asset.hasDriverLayer ? { NODE_PATH: layerModules } : {}),
        };
        const series = samples.get(m.asset.handler) ?? { bundle: [], stub: [], sourceMaps: [] };
        const order: Series[] = ['bundle', 'stub', 'sourceMaps'];
        for (let i = 0; i < order.length; i += 1) {
          const which = order[(i + round) % order.length] ?? 'bundle';
          const file = which === 'stub' ? m.stubFile : path.join(m.asset.dir, 'index.js');
          series[which].push(timeRequire(node, file, env, which === 'sourceMaps'));
        }
      }
    }

    const results: ComparisonResult[] = [];
    for (const m of measured) {
      const name = m.asset.handler;
      // The JWT functions reach Secrets Manager without its SDK client (lib/aws/secrets-manager.ts),
      // so they are held to the absolute 250 KB budget, not to a ratio over a client stub.
      const stubLabel = m.sdk.length ? `stub: ${m.sdk.map((pkg) => pkg.replace('@aws-sdk/', '')).join(' + ')}` : 'stub: no SDK client';
      const usesS3OrSecrets = m.sdk.length > 0;
      const sizeVerdict: Verdict = usesS3OrSecrets
        ? ratioWithin(m.bytes, m.stubBytes, { max: RATIO_LIMIT })
        : { relation: kb(m.bytes), budget: `<= ${SIZE_LIMIT_BYTES / 1000} KB`, pass: m.bytes <= SIZE_LIMIT_BYTES };
      results.push({
        subject: { label: `${name}: index.js`, n: 1, stat: `${kb(m.bytes)} (+ ${kb(m.mapBytes)} map)` },
        baseline: { label: stubLabel, n: 1, stat: kb(m.stubBytes) },
        verdict: sizeVerdict,
      });
      const series = samples.get(name);
      if (!series) continue;
      const requireOf = (timings: readonly RequireTiming[]) => timings.map((timing) => timing.requireMs);
      const processOf = (timings: readonly RequireTiming[]) => timings.map((timing) => timing.processMs);
      results.push({
        subject: { label: `${name}: Node 22 start + require`, n: series.bundle.length, stat: msStat(processOf(series.bundle)) },
        baseline: { label: `${stubLabel}, same`, n: series.stub.length, stat: msStat(processOf(series.stub)) },
        verdict: ratioWithin(median(processOf(series.bundle)), median(processOf(series.stub)), { max: RATIO_LIMIT }),
        note: `require() alone: bundle median ${median(requireOf(series.bundle)).toFixed(1)} ms, stub ${median(requireOf(series.stub)).toFixed(1)} ms; with --enable-source-maps the bundle's require takes ${median(requireOf(series.sourceMaps)).toFixed(1)} ms (${ratioOnly(median(requireOf(series.sourceMaps)), median(requireOf(series.bundle))).relation}).`,
      });
    }
    return results;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
