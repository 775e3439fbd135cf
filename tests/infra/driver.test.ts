/**
 * The artifacts `cdk deploy` would upload: the better-sqlite3 layer (ELF machine, Node 22
 * ABI, glibc/libstdc++ ceilings of Amazon Linux 2023, loads in a real Node 22) and the bundled
 * handlers (driver external, Swagger UI beside the docs handler, and they run on Node 22 with
 * the layer). Builds the driver if it is not cached yet: about 2 minutes on 2 cores.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { App } from 'aws-cdk-lib';
import { handlerNames, routes } from '../../functions/routes';
import { SWAGGER_UI_FILES } from '../../infra/constructs/api-function';
import { compareVersions, ensureDriverLayer, ensureNode22, MAX_GLIBC, MAX_GLIBCXX, NODE22_VERSION, type DriverLayer } from '../../infra/native/driver';
import { readSettings } from '../../infra/settings';
import { functionId, functionNeeds, SecureUploadStack } from '../../infra/stack';

const BUILD_TIMEOUT = 10 * 60_000;
let layer: DriverLayer;
let node22: string;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-driver-'));

beforeAll(() => {
  layer = ensureDriverLayer({ arch: 'x64', log: () => undefined });
  node22 = path.join(ensureNode22('x64'), 'bin', 'node');
}, BUILD_TIMEOUT);

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Version strings a binutils tool reports for `prefix` (read here, independently of infra/native). */
function versionsIn(output: string, prefix: string): string[] {
  return [...new Set([...output.matchAll(new RegExp(`\\b${prefix}(\\d+(?:\\.\\d+)+)\\b`, 'g'))].map((match) => match[1] ?? ''))].sort(compareVersions);
}

describe('the better-sqlite3 layer binary', () => {
  it('is an x86-64 ELF shared object', () => {
    const header = execFileSync('readelf', ['-h', layer.binary], { encoding: 'utf8' });
    expect(header).toMatch(/Class:\s+ELF64/);
    expect(header).toMatch(/Type:\s+DYN/);
    expect(header).toMatch(/Machine:\s+Advanced Micro Devices X86-64/);
  });

  it('registers itself for Node 22 (ABI 127) and no other ABI', () => {
    const symbols = execFileSync('objdump', ['-T', layer.binary], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect([...new Set(symbols.match(/node_register_module_v\d+/g))]).toEqual(['node_register_module_v127']);
  });

  it(`needs at most GLIBC_${MAX_GLIBC} and GLIBCXX_${MAX_GLIBCXX} (Amazon Linux 2023)`, () => {
    const needs = execFileSync('objdump', ['-T', layer.binary], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const glibc = versionsIn(needs, 'GLIBC_');
    const glibcxx = versionsIn(needs, 'GLIBCXX_');
    expect(glibc.length).toBeGreaterThan(0);
    expect(compareVersions(glibc.at(-1) ?? '0', MAX_GLIBC)).toBeLessThanOrEqual(0);
    expect(compareVersions(glibcxx.at(-1) ?? '0', MAX_GLIBCXX)).toBeLessThanOrEqual(0);
    // Only system libraries Amazon Linux 2023 has.
    const dynamic = execFileSync('readelf', ['-d', layer.binary], { encoding: 'utf8' });
    const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((match) => match[1]);
    for (const library of needed) expect(library).toMatch(/^(libstdc\+\+\.so\.6|libm\.so\.6|libc\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|ld-linux-x86-64\.so\.2)$/);
  });

  it('carries only what runs: the package code, the binary and its two runtime dependencies', () => {
    const modules = path.join(layer.layerDir, 'nodejs', 'node_modules');
    expect(fs.readdirSync(modules).sort()).toEqual(['better-sqlite3', 'bindings', 'file-uri-to-path']);
    const driver = path.join(modules, 'better-sqlite3');
    expect(fs.readdirSync(driver).sort()).toEqual(expect.arrayContaining(['build', 'lib', 'package.json']));
    expect(fs.existsSync(path.join(driver, 'src'))).toBe(false);
    expect(fs.existsSync(path.join(driver, 'deps'))).toBe(false);
    expect(fs.readdirSync(path.join(driver, 'build', 'Release'))).toEqual(['better_sqlite3.node']);
  });

  it('loads in Node 22 and opens, writes and reads a database with the Lambda journal mode', () => {
    const file = path.join(scratch, 'probe.db');
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(${JSON.stringify(file)});
      db.pragma('busy_timeout = 5000');
      const mode = db.pragma('journal_mode = DELETE', { simple: true });
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      db.transaction(() => db.prepare('INSERT INTO t (v) VALUES (?)').run('x'))();
      process.stdout.write(JSON.stringify({ node: process.version, abi: process.versions.modules, mode, rows: db.prepare('SELECT count(*) AS n FROM t').get().n, from: require.resolve('better-sqlite3') }));
    `;
    const output = execFileSync(node22, ['-e', script], {
      cwd: scratch,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_PATH: path.join(layer.layerDir, 'nodejs', 'node_modules') },
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual({
      node: `v${NODE22_VERSION}`,
      abi: '127',
      mode: 'delete',
      rows: 1,
      // Node resolves symlinks (.cache may be one, as in git worktrees).
      from: fs.realpathSync(path.join(layer.layerDir, 'nodejs', 'node_modules', 'better-sqlite3', 'lib', 'index.js')),
    });
  });

  it('left the local Node 20 build in node_modules alone', () => {
    const local = path.join(__dirname, '..', '..', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    const symbols = execFileSync('objdump', ['-T', local], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(symbols).toContain(`node_register_module_v${process.versions.modules}`);
  });
});

describe('the synthesized assets (bundling on)', () => {
  let outdir: string;
  let template: { Resources: Record<string, { Type: string; Metadata?: Record<string, string>; Properties?: Record<string, unknown> }> };

  beforeAll(() => {
    outdir = path.join(scratch, 'cdk.out');
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const stack = new SecureUploadStack(app, 'Bundled', { settings: readSettings((key) => app.node.tryGetContext(key)) });
    const assembly = app.synth();
    template = assembly.getStackByName(stack.stackName).template as typeof template;
  }, BUILD_TIMEOUT);

  const assetOf = (logicalIdPrefix: string, type: string): string => {
    const entry = Object.entries(template.Resources).find(([id, resource]) => id.startsWith(logicalIdPrefix) && resource.Type === type);
    const assetPath = entry?.[1].Metadata?.['aws:asset:path'];
    if (!assetPath) throw new Error(`no asset for ${logicalIdPrefix}`);
    return path.join(outdir, assetPath);
  };

  it('ships the checked driver in the layer asset', () => {
    const asset = assetOf('SqliteDriver', 'AWS::Lambda::LayerVersion');
    const shipped = path.join(asset, 'nodejs', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    expect(fs.readFileSync(shipped).equals(fs.readFileSync(layer.binary))).toBe(true);
  });

  it('bundles each handler minified with a source map; only database functions require the external driver', () => {
    for (const handler of handlerNames()) {
      const asset = assetOf(functionId(handler), 'AWS::Lambda::Function');
      const code = fs.readFileSync(path.join(asset, 'index.js'), 'utf8');
      expect(fs.existsSync(path.join(asset, 'index.js.map'))).toBe(true);
      const requiresDriver = /require\("better-sqlite3"\)/.test(code);
      expect({ handler, requiresDriver }).toEqual({ handler, requiresDriver: functionNeeds(routes, handler).db !== undefined });
      expect(code).not.toContain('node_modules/better-sqlite3/lib');
      // Minified: no doc comments, and no indented statements. (Line length says little: the
      // newlines left are inside template literals, like SQL migrations or an HTML page.)
      expect({ handler, docComments: /\/\*\*\s/.test(code) }).toEqual({ handler, docComments: false });
      expect({ handler, indentedCode: /^[ \t]+(const|let|var|return|function|if \(|for \()\b/m.test(code) }).toEqual({ handler, indentedCode: false });
    }
  });

  it('carries no tracer code with tracing off (the default)', () => {
    for (const handler of [...handlerNames(), 'sweep-uploads']) {
      const asset = assetOf(functionId(handler), 'AWS::Lambda::Function');
      const sources = (JSON.parse(fs.readFileSync(path.join(asset, 'index.js.map'), 'utf8')) as { sources: string[] }).sources;
      expect({ handler, tracer: sources.filter((source) => /aws-xray-sdk|powertools\/tracer|lib\/tracing\.ts/.test(source)) }).toEqual({ handler, tracer: [] });
      expect(fs.readFileSync(path.join(asset, 'index.js'), 'utf8')).not.toMatch(/captureAWSv3Client|aws-xray-sdk/);
    }
  });

  it('puts the Swagger UI files beside the docs handler', () => {
    const asset = assetOf(functionId('docs'), 'AWS::Lambda::Function');
    expect(fs.readdirSync(path.join(asset, 'swagger-ui')).sort()).toEqual([...SWAGGER_UI_FILES].sort());
  });

  /** Runs bundled handlers in Node 22 with the layer on NODE_PATH, as Lambda would (/opt/nodejs/node_modules). */
  function invoke(handler: string, events: APIGatewayProxyEventV2[], dbDir: string): { statusCode: number; body?: string; headers?: Record<string, string> }[] {
    const entry = path.join(assetOf(functionId(handler), 'AWS::Lambda::Function'), 'index.js');
    const script = `
      const { handler } = require(${JSON.stringify(entry)});
      const events = JSON.parse(process.argv[1]);
      (async () => {
        const results = [];
        for (const event of events) {
          results.push(await handler(event, { awsRequestId: event.requestContext.requestId, functionName: ${JSON.stringify(handler)}, getRemainingTimeInMillis: () => 10000 }));
        }
        process.stdout.write(JSON.stringify(results));
      })().catch((error) => { console.error(error); process.exit(1); });
    `;
    const output = execFileSync(node22, ['--enable-source-maps', '-e', script, JSON.stringify(events)], {
      cwd: scratch,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        NODE_PATH: path.join(layer.layerDir, 'nodejs', 'node_modules'),
        AWS_LAMBDA_FUNCTION_NAME: handler,
        NODE_ENV: 'production',
        // Secrets Manager cannot be reached here; a local secret stands in for JWT_SECRET_ARN.
        JWT_SECRET: 'x'.repeat(48),
        DATABASE_URL: `sqlite:///${dbDir}/app.db`,
        SQLITE_JOURNAL_MODE: 'DELETE',
        BCRYPT_ROUNDS: '4',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
      },
    });
    return JSON.parse(output) as { statusCode: number; body?: string }[];
  }

  const event = (method: string, rawPath: string, body?: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 => ({
    version: '2.0',
    routeKey: `${method} ${rawPath}`,
    rawPath,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'jest' },
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      routeKey: `${method} ${rawPath}`,
      stage: '$default',
      time: '01/Jan/2025:00:00:00 +0000',
      timeEpoch: 1_735_689_600_000,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    isBase64Encoded: false,
  });

  it('runs a database handler on Node 22 with the layer: register, then a duplicate is 409', () => {
    const dbDir = fs.mkdtempSync(path.join(scratch, 'db-'));
    const results = invoke(
      'auth-register',
      [event('POST', '/auth/register', { email: 'lambda@example.com', password: 'correct horse' }), event('POST', '/auth/register', { email: 'LAMBDA@example.com', password: 'correct horse' })],
      dbDir,
    );
    expect(results.map((result) => result.statusCode)).toEqual([201, 409]);
    expect(fs.existsSync(path.join(dbDir, 'app.db'))).toBe(true);
    expect(fs.existsSync(path.join(dbDir, 'app.db-wal'))).toBe(false); // DELETE journal, never WAL on EFS
  });

  it('serves Swagger UI assets from the bundled folder', () => {
    const [page, css] = invoke(
      'docs',
      [event('GET', '/docs'), { ...event('GET', '/docs/swagger-ui.css'), pathParameters: { proxy: 'swagger-ui.css' } }],
      fs.mkdtempSync(path.join(scratch, 'db-')),
    );
    expect(page?.statusCode).toBe(200);
    expect(css?.statusCode).toBe(200);
    expect(css?.headers?.['Content-Type'] ?? css?.headers?.['content-type']).toMatch(/text\/css/);
  });
});
