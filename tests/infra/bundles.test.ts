/**
 * What `cdk deploy` uploads, run as Lambda runs it: the stack is synthesized with bundling on,
 * and every function's asset folder from the cloud assembly runs in its own Node 22 process
 * (the nodejs22.x runtime's Node), warm across invocations, with the driver layer on NODE_PATH
 * only where the template attaches it, and the environment the template gives it. Only what
 * AWS itself would provide is stood in for: EFS is a temp folder shared by all the functions,
 * S3 is the embedded server, Secrets Manager is a fake GetSecretValue endpoint. Real API
 * Gateway v2 events drive the seed's whole flow, direct uploads and the scheduled sweeper.
 *
 * Synthesizing takes one to two minutes here (bundling 15 functions); the driver layer comes
 * from the cache (built once, about 2 minutes, if missing).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import BetterSqlite3 from 'better-sqlite3';
import jwt from 'jsonwebtoken';
import { handlerNames, routes, sweepNeeds } from '../../functions/routes';
import { DB_MOUNT_PATH } from '../../infra/constructs/database';
import { synthesizeAssets, type FunctionAsset, type SynthesizedAssets } from '../../infra/function-assets';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from '../../infra/local/embedded-s3';
import { Router } from '../../infra/local/routing';
import { ensureDriverLayer, ensureNode22 } from '../../infra/native/driver';
import { functionNeeds, LAMBDA_CA_BUNDLE } from '../../infra/stack';
import { createTestEventV2, multipartBody, type EventOptions } from '../helpers/events';
import { LambdaContainer, startFakeSecretsManager, type FakeSecretsManager } from '../helpers/lambda-emulator';
import { makeServerCertificate, startEmbeddedPostgresProcess } from '../helpers/postgres-server';
import pg from 'pg';

const SETUP_TIMEOUT_MS = 15 * 60_000;
jest.setTimeout(180_000);

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const BUCKET = 'bundle-test-uploads';
const SECRET = {
  arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:JwtSecretB8834B39-AbCdEf`,
  name: 'JwtSecretB8834B39-AbCdEf',
  value: randomBytes(32).toString('hex'),
};
/** The Aurora variant's database secret; its value (the RDS-generated JSON) is set once the server runs. */
const DATABASE_SECRET = {
  arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AuroraClusterSecretD2C8E5A1-XyZ123`,
  name: 'AuroraClusterSecretD2C8E5A1-XyZ123',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let work: string;
let assets: SynthesizedAssets;
let node22: string;
let storage: EmbeddedS3 | undefined;
let s3Endpoint: string;
let secrets: FakeSecretsManager | undefined;
let efs: string;
/** A presigned URL on the embedded server's bucket (a function without the template's bucket would sign for AWS). */
let inBucket: unknown;
const containers = new Map<string, LambdaContainer>();
const router = new Router(routes);

/** The role credentials of each function: distinct, so the fake Secrets Manager can tell callers apart. */
const accessKeyOf = (handler: string) => `ASIA${handler.replace(/[^a-z]/g, '').toUpperCase()}`;

/**
 * The template's environment with its CloudFormation tokens resolved to what stands in for
 * them here, the EFS mount moved to a temp folder, and the storage endpoint added for
 * functions the template gives a bucket. An unknown token fails the test: it is new
 * configuration this test must learn to provide.
 */
function environmentOf(asset: FunctionAsset): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(asset.environment)) {
    const ref = typeof value === 'object' && value !== null ? (value as { Ref?: unknown }).Ref : undefined;
    if (typeof value === 'string') env[name] = value;
    else if (ref === 'AWS::Region') env[name] = REGION;
    else if (typeof ref === 'string' && ref.startsWith('JwtSecret')) env[name] = SECRET.arn;
    // The fake serves one secret; MFA routes are not driven here (tests/integration/mfa.test.ts
    // covers them), so the MFA functions only need an ARN that lib/config.ts accepts.
    else if (typeof ref === 'string' && ref.startsWith('MfaEncryptionKey')) env[name] = SECRET.arn.replace('JwtSecretB8834B39', 'MfaEncryptionKey0000');
    else if (typeof ref === 'string' && ref.startsWith('StorageUploads')) env[name] = BUCKET;
    // -c database=aurora: the cluster's generated secret (its attachment's Ref is the secret ARN).
    else if (typeof ref === 'string' && ref.startsWith('AuroraClusterSecret')) env[name] = DATABASE_SECRET.arn;
    else if (name === 'APP_URL' && JSON.stringify(value).includes('.execute-api.')) env[name] = `https://abc123.execute-api.${REGION}.amazonaws.com`;
    else throw new Error(`${asset.handler}: no stand-in for ${name} = ${JSON.stringify(value)}`);
  }
  if (env.DATABASE_URL !== undefined) {
    const mount = `sqlite:///${DB_MOUNT_PATH}/`;
    if (!env.DATABASE_URL.startsWith(mount)) throw new Error(`${asset.handler}: DATABASE_URL ${env.DATABASE_URL} is not on the EFS mount`);
    env.DATABASE_URL = `sqlite:///${path.join(efs, env.DATABASE_URL.slice(mount.length))}`;
  }
  if (env.S3_BUCKET !== undefined) {
    Object.assign(env, {
      S3_ENDPOINT: s3Endpoint,
      S3_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    });
  }
  env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets?.endpoint ?? '';
  return env;
}

function assetOf(handler: string): FunctionAsset {
  const asset = assets.functions.find((candidate) => candidate.handler === handler);
  if (!asset) throw new Error(`no synthesized function for ${handler}`);
  return asset;
}

function startContainer(asset: FunctionAsset, overrides: Partial<{ hasDriverLayer: boolean }> = {}): LambdaContainer {
  return new LambdaContainer({
    node: node22,
    asset: { ...asset, ...overrides },
    layerModules: path.join(assets.driverLayerDir ?? '', 'nodejs', 'node_modules'),
    environment: environmentOf(asset),
    region: REGION,
    credentials: { accessKeyId: accessKeyOf(asset.handler), secretAccessKey: 'lambda-role-secret', sessionToken: 'lambda-role-session' },
  });
}

/** The warm container of a function, started (cold) on first use. */
function container(handler: string): LambdaContainer {
  let found = containers.get(handler);
  if (!found) {
    found = startContainer(assetOf(handler));
    containers.set(handler, found);
  }
  return found;
}

interface Answer {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Record<string, string>;
  /** Parsed JSON for JSON answers, else the text. */
  readonly body: any;
  readonly bytes: Buffer;
}

/**
 * What API Gateway does with a request: picks the route (hence the function) from the route
 * table, sends the v2 event, and turns the function's result into a response.
 */
async function request(method: string, rawPath: string, options: Omit<EventOptions, 'method' | 'path' | 'routeKey' | 'pathParameters'> = {}): Promise<Answer> {
  const match = router.match(method, rawPath);
  if (!match) throw new Error(`no route for ${method} ${rawPath}`);
  const event = createTestEventV2({ ...options, method, path: rawPath, routeKey: match.routeKey, ...(match.pathParameters ? { pathParameters: match.pathParameters } : {}) });
  const result = (await container(match.route.handler).invoke(event)) as APIGatewayProxyStructuredResultV2;
  expect(result).toEqual(expect.objectContaining({ statusCode: expect.any(Number) }));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  const bytes = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  const text = bytes.toString('utf8');
  return { status: result.statusCode ?? 200, headers, body: /json/.test(headers['content-type'] ?? '') && text ? JSON.parse(text) : text, bytes };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An RFC 9457 problem+json body. */
const problem = (status: number, detail?: string) => ({
  type: expect.any(String),
  title: expect.any(String),
  status,
  detail: detail ?? expect.any(String),
  instance: expect.any(String),
});

/** A PUT with exactly the headers the plan says to send (and the Content-Length its signature covers). */
function putPresigned(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', headers: { ...headers, 'Content-Length': String(body.length) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The test's own view of the bucket (signed like any S3 client). */
function testS3(): S3Client {
  return new S3Client({
    region: REGION,
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: EMBEDDED_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function objectExists(key: string): Promise<boolean> {
  const client = testS3();
  try {
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return false;
    throw error;
  } finally {
    client.destroy();
  }
}

function pdf(size: number): Buffer {
  return Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size - 9)]);
}

beforeAll(async () => {
  ensureDriverLayer({ arch: 'x64', log: () => undefined }); // cached after the first build; synth uses it too
  node22 = path.join(ensureNode22('x64'), 'bin', 'node');
  // Under the OS temp folder, far from the repository: nothing may resolve from its node_modules.
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-bundle-test-'));
  assets = synthesizeAssets(path.join(work, 'cdk.out'));
  efs = path.join(work, 'efs');
  fs.mkdirSync(efs);
  storage = await startEmbeddedS3({ host: '127.0.0.1', port: 0, directory: path.join(work, 's3'), bucket: BUCKET, region: REGION, credentials: EMBEDDED_S3_CREDENTIALS });
  s3Endpoint = `http://127.0.0.1:${storage.port}`;
  inBucket = expect.stringMatching(new RegExp(`^${s3Endpoint}/${BUCKET}/`));
  secrets = await startFakeSecretsManager(SECRET);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([...containers.values()].map((running) => running.close()));
  await storage?.close();
  await secrets?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('the synthesized bundles on Node 22, as Lambda runs them', () => {
  test('the assembly has one function per handler plus the sweeper, all outside the repository', () => {
    expect(assets.functions.map((asset) => asset.handler).sort()).toEqual([...handlerNames(), 'sweep-uploads'].sort());
    for (const asset of assets.functions) {
      expect(fs.existsSync(path.join(asset.dir, 'index.js'))).toBe(true);
      expect(path.relative(path.join(__dirname, '..', '..'), asset.dir)).toMatch(/^\.\./);
    }
  });

  test('every function initializes (loads its bundle) with the template environment', async () => {
    const outcomes = await Promise.all(
      assets.functions.map((asset) => container(asset.handler).ready.then(
        () => ({ handler: asset.handler, ok: true, error: '' }),
        (error: Error) => ({ handler: asset.handler, ok: false, error: error.message }),
      )),
    );
    expect(outcomes.filter((outcome) => !outcome.ok)).toEqual([]);
  });

  test('without the driver layer a SQLite function loads but cannot open its database: the driver comes from the layer only', async () => {
    // The driver is required when a sqlite:// database is first opened, not at load: a bundle
    // for PostgreSQL (-c database=aurora) never needs the layer.
    const withoutLayer = startContainer(assetOf('auth-register'), { hasDriverLayer: false });
    try {
      await withoutLayer.ready;
      const result = (await withoutLayer.invoke(
        createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: 'nolayer@example.com', password: 'SecurePassword123!' } }),
      )) as APIGatewayProxyStructuredResultV2;
      expect(result.statusCode).toBe(500);
      expect(withoutLayer.output()).toMatch(/Cannot find module 'better-sqlite3'/);
    } finally {
      await withoutLayer.close();
    }
  });

  describe('the seed flow', () => {
    const email = `alice-${randomBytes(4).toString('hex')}@example.com`;
    const password = 'SecurePassword123!';
    const fileBytes = pdf(200 * 1024);
    let user: { id: string; email: string; created_at: string };
    let login: { access_token: string; refresh_token: string };

    test('GET /health: 200 {"status":"ok"}', async () => {
      const answer = await request('GET', '/health');
      expect(answer).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
    });

    test('POST /auth/register: 201 the user; the same email again: 409 problem+json', async () => {
      const created = await request('POST', '/auth/register', { json: { email, password } });
      expect(created.status).toBe(201);
      expect(created.headers['content-type']).toMatch(/^application\/json/);
      user = created.body;
      expect(user).toEqual({ id: expect.stringMatching(UUID), email, created_at: expect.stringMatching(ISO_SECONDS) });

      const duplicate = await request('POST', '/auth/register', { json: { email: email.toUpperCase(), password } });
      expect(duplicate.status).toBe(409);
      expect(duplicate.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(duplicate.body).toEqual(problem(409, 'Email already registered'));
    });

    test('POST /auth/login: 200 a token pair signed with the secret from Secrets Manager', async () => {
      const answer = await request('POST', '/auth/login', { json: { email, password } });
      expect(answer.status).toBe(200);
      expect(answer.headers['cache-control']).toMatch(/no-store/);
      login = answer.body;
      expect(login).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: 900 });
      expect(jwt.verify(login.access_token, SECRET.value, { algorithms: ['HS256'] })).toMatchObject({ sub: user.id });
    });

    test('GET /auth/me: 200 the user', async () => {
      const answer = await request('GET', '/auth/me', { headers: bearer(login.access_token) });
      expect(answer).toMatchObject({ status: 200, body: user });
    });

    test('POST /upload (multipart, base64 event body): 200, and its presigned URL downloads the same bytes', async () => {
      const form = multipartBody([{ name: 'file', filename: 'document.pdf', contentType: 'application/pdf', content: fileBytes }]);
      const answer = await request('POST', '/upload', { headers: { ...bearer(login.access_token), 'content-type': form.contentType }, binary: form.body });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        id: expect.stringMatching(UUID),
        filename: 'document.pdf',
        key: expect.stringMatching(new RegExp(`^${user.id}/.+document\\.pdf$`)),
        url: inBucket,
        status: 'uploaded',
        scan_status: 'unscanned',
      });
      const download = await fetch(answer.body.url);
      expect(download.status).toBe(200);
      expect(download.headers.get('content-disposition')).toMatch(/^attachment;.*document\.pdf/);
      expect(Buffer.from(await download.arrayBuffer()).equals(fileBytes)).toBe(true);
    });

    test('POST /auth/refresh: 200 a new pair; replaying the old refresh token: 401', async () => {
      const answer = await request('POST', '/auth/refresh', { json: { refresh_token: login.refresh_token } });
      expect(answer.status).toBe(200);
      const rotated = answer.body as { access_token: string; refresh_token: string };
      expect(rotated).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: 900 });
      expect(rotated.refresh_token).not.toBe(login.refresh_token);

      const replay = await request('POST', '/auth/refresh', { json: { refresh_token: login.refresh_token } });
      expect(replay.status).toBe(401);
      expect(replay.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(replay.body).toEqual(problem(401));
    });

    test('POST /auth/logout: 204 with no body, and that refresh token no longer refreshes', async () => {
      // A fresh session: the replay above already revoked the whole family of the first one.
      const session = (await request('POST', '/auth/login', { json: { email, password } })).body as { refresh_token: string };
      const answer = await request('POST', '/auth/logout', { json: { refresh_token: session.refresh_token } });
      expect(answer.status).toBe(204);
      expect(answer.bytes.length).toBe(0);
      expect((await request('POST', '/auth/refresh', { json: { refresh_token: session.refresh_token } })).status).toBe(401);
    });

    test('GET /openapi.json: 200, every public route documented', async () => {
      const answer = await request('GET', '/openapi.json');
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.body.openapi).toMatch(/^3\./);
      const documented = Object.entries(answer.body.paths as Record<string, Record<string, unknown>>).flatMap(([route, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${route}`),
      );
      expect(documented.sort()).toEqual(routes.filter((route) => !route.hidden).map((route) => `${route.method} ${route.path}`).sort());
    });

    test('GET /docs: 200 the Swagger UI page; GET /docs/swagger-ui.css: the file shipped beside the handler', async () => {
      const page = await request('GET', '/docs');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toMatch(/swagger-ui/);

      const css = await request('GET', '/docs/swagger-ui.css');
      expect(css.status).toBe(200);
      expect(css.headers['content-type']).toMatch(/^text\/css/);
      expect(css.bytes.equals(fs.readFileSync(path.join(assetOf('docs').dir, 'swagger-ui', 'swagger-ui.css')))).toBe(true);
    });
  });

  describe('direct uploads', () => {
    const bytes = pdf(300 * 1024);
    let token: string;
    let plan: { id: string; key: string; expires_in: number; upload: { method: 'PUT'; url: string; headers: Record<string, string> } };

    beforeAll(async () => {
      const credentials = { email: `bob-${randomBytes(4).toString('hex')}@example.com`, password: 'SecurePassword123!' };
      expect((await request('POST', '/auth/register', { json: credentials })).status).toBe(201);
      token = (await request('POST', '/auth/login', { json: credentials })).body.access_token;
    }, 180_000);

    test('POST /uploads: 201 a presigned PUT signed for the type and the length', async () => {
      const answer = await request('POST', '/uploads', { headers: bearer(token), json: { filename: 'report.pdf', content_type: 'application/pdf', size: bytes.length } });
      expect(answer.status).toBe(201);
      plan = answer.body;
      expect(plan).toEqual({
        id: expect.stringMatching(UUID),
        key: expect.stringMatching(/report\.pdf$/),
        expires_in: expect.any(Number),
        upload: { method: 'PUT', url: inBucket, headers: { 'Content-Type': 'application/pdf' } },
      });
      expect(new URL(plan.upload.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    });

    test('PUT the bytes to the presigned URL with the signed headers: 200', async () => {
      const put = await putPresigned(plan.upload.url, plan.upload.headers, bytes);
      expect(put).toMatchObject({ status: 200 });
    });

    test('POST /uploads/{id}/complete: 200 the stored file', async () => {
      const answer = await request('POST', `/uploads/${plan.id}/complete`, { headers: bearer(token) });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        id: plan.id,
        filename: 'report.pdf',
        key: plan.key,
        url: inBucket,
        status: 'uploaded',
        size: bytes.length,
        content_type: 'application/pdf',
        scan_status: 'unscanned',
      });
    });

    test('GET /files lists it; GET /files/{id}: 200 with a URL that downloads the same bytes', async () => {
      const list = await request('GET', '/files', { headers: bearer(token) });
      expect(list.status).toBe(200);
      expect(list.body).toEqual({
        files: [{ id: plan.id, filename: 'report.pdf', key: plan.key, size: bytes.length, content_type: 'application/pdf', created_at: expect.stringMatching(ISO_SECONDS), scan_status: 'unscanned' }],
        next_cursor: null,
      });

      const one = await request('GET', `/files/${plan.id}`, { headers: bearer(token) });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ ...list.body.files[0], url: inBucket });
      const download = await fetch(one.body.url);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    });

    test('POST /files/{id}/shares, then GET /s/{token}: a link on the API URL that redirects to the same bytes', async () => {
      const created = await request('POST', `/files/${plan.id}/shares`, { headers: bearer(token), json: { max_downloads: 1 } });
      expect(created.status).toBe(201);
      expect(created.body.url).toMatch(new RegExp(`^https://abc123\\.execute-api\\.${REGION}\\.amazonaws\\.com/s/[A-Za-z0-9_-]{43}$`));
      const opened = await request('GET', new URL(created.body.url).pathname);
      expect(opened.status).toBe(302);
      const download = await fetch(opened.headers.location ?? '');
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
      expect((await request('POST', new URL(created.body.url).pathname)).status).toBe(404); // used up
    });

    test('DELETE /files/{id}: 204; the file and its object are gone', async () => {
      const answer = await request('DELETE', `/files/${plan.id}`, { headers: bearer(token) });
      expect(answer.status).toBe(204);
      expect(answer.bytes.length).toBe(0);
      expect((await request('GET', `/files/${plan.id}`, { headers: bearer(token) })).status).toBe(404);
      expect(await objectExists(plan.key)).toBe(false);
    });
  });

  describe('the scheduled sweeper', () => {
    test('removes a plan that expired without completing, and what was uploaded for it', async () => {
      const credentials = { email: `carol-${randomBytes(4).toString('hex')}@example.com`, password: 'SecurePassword123!' };
      expect((await request('POST', '/auth/register', { json: credentials })).status).toBe(201);
      const token = (await request('POST', '/auth/login', { json: credentials })).body.access_token as string;
      const bytes = pdf(64 * 1024);
      const plan = await request('POST', '/uploads', { headers: bearer(token), json: { filename: 'abandoned.pdf', content_type: 'application/pdf', size: bytes.length } });
      expect(plan.status).toBe(201);
      expect(await putPresigned(plan.body.upload.url, plan.body.upload.headers, bytes)).toMatchObject({ status: 200 });
      const uploaded = await listKeys();
      expect(uploaded.filter((key) => key.includes(plan.body.id))).toHaveLength(1); // the staging object

      // The plan lives PRESIGNED_URL_EXPIRE_SECONDS plus a grace period; age it in the shared
      // database file, as time would.
      const db = new BetterSqlite3(path.join(efs, 'app.db'));
      try {
        db.pragma('busy_timeout = 10000');
        expect(db.prepare(`UPDATE files SET expires_at = '2000-01-01T00:00:00Z' WHERE id = ? AND status = 'pending'`).run(plan.body.id).changes).toBe(1);
      } finally {
        db.close();
      }

      const result = await container('sweep-uploads').invoke({
        version: '0',
        id: '89d1a02d-5ec7-412e-82f5-13505f849b41',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: ACCOUNT,
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: REGION,
        resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/SweepUploadsSchedule`],
        detail: {},
      });
      expect(result).toEqual({ removed: 1 });

      const check = new BetterSqlite3(path.join(efs, 'app.db'), { readonly: true });
      try {
        check.pragma('busy_timeout = 10000');
        expect(check.prepare('SELECT count(*) AS n FROM files WHERE id = ?').get(plan.body.id)).toEqual({ n: 0 });
      } finally {
        check.close();
      }
      expect((await listKeys()).filter((key) => key.includes(plan.body.id))).toEqual([]);
      expect((await request('POST', `/uploads/${plan.body.id}/complete`, { headers: bearer(token) })).status).toBe(404);
    });
  });

  test('the JWT secret came from Secrets Manager: once per container (current and previous versions), only to functions that sign or verify tokens', () => {
    const calls = secrets?.calls ?? [];
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call).toEqual({
        target: 'secretsmanager.GetSecretValue',
        secretId: SECRET.arn,
        versionStage: call.versionStage === undefined ? undefined : 'AWSPREVIOUS',
        accessKeyId: expect.any(String),
        region: REGION,
        service: 'secretsmanager',
      });
    }
    const callerOf = (call: (typeof calls)[number]) => assets.functions.find((asset) => accessKeyOf(asset.handler) === call.accessKeyId)?.handler ?? call.accessKeyId;
    const callers = calls.filter((call) => call.versionStage === undefined).map(callerOf);
    const jwtFunctions = handlerNames().filter((handler) => functionNeeds(routes, handler).jwt);
    // Each warm container read the key set once, at its first token operation: AWSCURRENT
    // (signs) and AWSPREVIOUS (verifies; absent here, the secret was never rotated) together.
    expect(callers.sort()).toEqual([...new Set(callers)].sort());
    expect(calls.filter((call) => call.versionStage === 'AWSPREVIOUS').map(callerOf).sort()).toEqual(callers);
    expect(callers).toEqual(expect.arrayContaining(['auth-login', 'auth-me', 'upload', 'uploads-plan', 'uploads-complete', 'files-list', 'files-get', 'files-delete', 'auth-refresh']));
    for (const caller of callers) expect(jwtFunctions).toContain(caller);
    expect(sweepNeeds.jwt).toBeFalsy();
  });

  test('no container crashed or logged an error along the way', () => {
    for (const [handler, running] of containers) {
      expect({ handler, running: running.running }).toEqual({ handler, running: true });
      expect({ handler, errors: running.output().split('\n').filter((line) => /"level":"(ERROR|CRITICAL)"|Uncaught|harness:/.test(line)) }).toEqual({ handler, errors: [] });
    }
  });
});

async function listKeys(): Promise<string[]> {
  const client = testS3();
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    return (listed.Contents ?? []).map((object) => object.Key ?? '');
  } finally {
    client.destroy();
  }
}

/**
 * `-c database=aurora`, synthesized with bundling like a deploy: no function carries the SQLite
 * driver or has its layer, and the database functions run in Node 22 against a real PostgreSQL
 * that, like Aurora with rds.force_ssl, speaks TLS only, with a certificate the client must
 * verify through NODE_EXTRA_CA_CERTS (Lambda's /var/runtime/ca-cert.pem stood in for by this
 * server's CA), the connection built from the secret's JSON served by the fake Secrets Manager.
 */
describe('the Aurora variant (-c database=aurora) on Node 22', () => {
  let auroraAssets: SynthesizedAssets;
  let postgres: { url: string; stop: () => Promise<void> } | undefined;
  let fakeSecrets: FakeSecretsManager | undefined;
  let caFile: string;
  let certDir: string;
  const running = new Map<string, LambdaContainer>();
  const auroraRouter = new Router(routes);

  const auroraAsset = (handler: string): FunctionAsset => {
    const found = auroraAssets.functions.find((candidate) => candidate.handler === handler);
    if (!found) throw new Error(`no synthesized function for ${handler}`);
    return found;
  };

  function auroraContainer(handler: string): LambdaContainer {
    let found = running.get(handler);
    if (!found) {
      const asset = auroraAsset(handler);
      const environment = environmentOf(asset);
      expect(environment.NODE_EXTRA_CA_CERTS).toBe(LAMBDA_CA_BUNDLE);
      Object.assign(environment, { NODE_EXTRA_CA_CERTS: caFile, AWS_ENDPOINT_URL_SECRETS_MANAGER: fakeSecrets?.endpoint ?? '' });
      found = new LambdaContainer({
        node: node22,
        asset,
        layerModules: '/nonexistent', // no layer: nothing may come from one
        environment,
        region: REGION,
        credentials: { accessKeyId: accessKeyOf(handler), secretAccessKey: 'lambda-role-secret', sessionToken: 'lambda-role-session' },
      });
      running.set(handler, found);
    }
    return found;
  }

  async function call(method: string, rawPath: string, json?: unknown): Promise<{ status: number; headers: Record<string, string>; body: any }> {
    const match = auroraRouter.match(method, rawPath);
    if (!match) throw new Error(`no route for ${method} ${rawPath}`);
    const event = createTestEventV2({ method, path: rawPath, routeKey: match.routeKey, ...(json === undefined ? {} : { json }) });
    const result = (await auroraContainer(match.route.handler).invoke(event)) as APIGatewayProxyStructuredResultV2;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
    const text = result.body ?? '';
    return { status: result.statusCode ?? 200, headers, body: text && /json/.test(headers['content-type'] ?? '') ? JSON.parse(text) : text };
  }

  beforeAll(async () => {
    auroraAssets = synthesizeAssets(path.join(work, 'cdk.out.aurora'), { database: 'aurora' });
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-tls-'));
    const certificate = makeServerCertificate(certDir, 'localhost');
    caFile = certificate.certFile;
    postgres = await startEmbeddedPostgresProcess({ tls: certificate });
    const admin = new URL(postgres.url);
    // What RDS writes into the secret it generates for the cluster (host: the name on the certificate).
    const secretJson = {
      engine: 'postgres',
      host: 'localhost',
      port: Number(admin.port),
      dbname: 'postgres',
      username: decodeURIComponent(admin.username),
      password: decodeURIComponent(admin.password),
      dbClusterIdentifier: 'bundled-aurora',
    };
    fakeSecrets = await startFakeSecretsManager([SECRET, { ...DATABASE_SECRET, value: JSON.stringify(secretJson) }]);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([...running.values()].map((container) => container.close()));
    await fakeSecrets?.close();
    await postgres?.stop();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  }, 60_000);

  test('no function has the driver layer, and no bundle carries better-sqlite3; the database bundles carry the PostgreSQL client', () => {
    expect(auroraAssets.driverLayerDir).toBeUndefined();
    expect(auroraAssets.functions.map((asset) => asset.handler).sort()).toEqual([...handlerNames(), 'sweep-uploads'].sort());
    for (const asset of auroraAssets.functions) {
      const code = fs.readFileSync(path.join(asset.dir, 'index.js'), 'utf8');
      const usesDb = asset.handler === 'sweep-uploads' || functionNeeds(routes, asset.handler).db !== undefined;
      expect({ handler: asset.handler, layer: asset.hasDriverLayer, sqlite: code.includes('better-sqlite3'), pg: code.includes('pg_advisory_xact_lock') }).toEqual({
        handler: asset.handler,
        layer: false,
        sqlite: false,
        pg: usesDb,
      });
      expect(fs.readdirSync(asset.dir).filter((entry) => entry === 'node_modules')).toEqual([]);
    }
    // The SQLite variant is the mirror image: the driver stays external, the PostgreSQL client out.
    const sqliteRegister = fs.readFileSync(path.join(assetOf('auth-register').dir, 'index.js'), 'utf8');
    expect({ sqlite: sqliteRegister.includes('better-sqlite3'), pg: sqliteRegister.includes('pg_advisory_xact_lock') }).toEqual({ sqlite: true, pg: false });
  });

  test('register and login run against PostgreSQL over verified TLS, the connection built from the secret', async () => {
    const credentials = { email: `aurora-${randomBytes(4).toString('hex')}@example.com`, password: 'SecurePassword123!' };
    const created = await call('POST', '/auth/register', credentials);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(UUID), email: credentials.email, created_at: expect.stringMatching(ISO_SECONDS) });
    expect((await call('POST', '/auth/register', credentials)).status).toBe(409);
    const session = await call('POST', '/auth/login', credentials);
    expect(session.status).toBe(200);
    expect(jwt.verify(session.body.access_token, SECRET.value, { algorithms: ['HS256'] })).toMatchObject({ sub: created.body.id });

    // The rows are in PostgreSQL, and every connection the functions made is encrypted.
    const admin = new pg.Client({ connectionString: postgres?.url, ssl: { ca: fs.readFileSync(caFile, 'utf8'), servername: 'localhost' } });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ email: string }>('SELECT email FROM users WHERE id = $1', [created.body.id]);
      expect(rows).toEqual([{ email: credentials.email }]);
      const sessions = await admin.query<{ ssl: boolean }>(
        `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = 'secure-upload-api'`,
      );
      expect(sessions.rows.length).toBeGreaterThan(0);
      expect(sessions.rows.every((row) => row.ssl)).toBe(true);
    } finally {
      await admin.end();
    }

    // Each container read the database secret once.
    const reads = (fakeSecrets?.calls ?? []).filter((entry) => entry.secretId === DATABASE_SECRET.arn);
    const readers = reads.map((entry) => entry.accessKeyId);
    expect(readers.sort()).toEqual([accessKeyOf('auth-login'), accessKeyOf('auth-register')].sort());
  });

  test('without the RDS CAs (NODE_EXTRA_CA_CERTS) the certificate is refused: TLS is verified, not just on', async () => {
    const asset = auroraAsset('auth-register');
    const environment: Record<string, string> = { ...environmentOf(asset), AWS_ENDPOINT_URL_SECRETS_MANAGER: fakeSecrets?.endpoint ?? '' };
    delete environment.NODE_EXTRA_CA_CERTS;
    const untrusting = new LambdaContainer({
      node: node22,
      asset,
      layerModules: '/nonexistent',
      environment,
      region: REGION,
      credentials: { accessKeyId: accessKeyOf('auth-register'), secretAccessKey: 'lambda-role-secret', sessionToken: 'lambda-role-session' },
    });
    try {
      const result = (await untrusting.invoke(
        createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: 'untrusted@example.com', password: 'SecurePassword123!' } }),
      )) as APIGatewayProxyStructuredResultV2;
      expect(result.statusCode).toBeGreaterThanOrEqual(500);
      expect(result.body ?? '').not.toMatch(/certificate|localhost|stack/i);
      expect(untrusting.output()).toMatch(/self[- ]signed certificate|unable to verify|SELF_SIGNED/i);
    } finally {
      await untrusting.close();
    }
  });

  test('no container crashed or logged an error', () => {
    for (const [handler, container] of running) {
      expect({ handler, running: container.running }).toEqual({ handler, running: true });
      expect({ handler, errors: container.output().split('\n').filter((line) => /"level":"(ERROR|CRITICAL)"|Uncaught|harness:/.test(line)) }).toEqual({ handler, errors: [] });
    }
  });
});
