/**
 * What only the PostgreSQL implementation has: its migrations (same schema as SQLite's, applied
 * once under a lock by racing cold starts), serializable transactions retried on conflict, a
 * 503 instead of a 500 or a hang when the server is unreachable, and the SQLite-to-PostgreSQL
 * copy. Runs in the `postgres` Jest project (it needs the suite's server); the `sqlite` project
 * skips it.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { handler as login } from '../../functions/auth-login';
import { handler as me } from '../../functions/auth-me';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { handler as listSessions } from '../../functions/auth-sessions-list';
import { handler as upload } from '../../functions/upload';
import { handler as listFiles } from '../../functions/files-list';
import { copySqliteToPostgres } from '../../lib/db/copy';
import { closeDb, getDb } from '../../lib/db/connection';
import { migrations } from '../../lib/db/migrations';
import { migratePostgres, PostgresDatabase, toPostgresPlaceholders } from '../../lib/db/postgres';
import { postgresMigrations } from '../../lib/db/postgres-migrations';
import { openSqlite } from '../../lib/db/sqlite';
import { HttpError } from '../../lib/http/errors';
import { createTestEventV2, invoke, multipartBody } from '../helpers/events';
import { pdfBytes } from '../helpers/fixtures';
import { startFakeSecretsManager, type FakeSecretsManager } from '../helpers/fake-secrets-manager';
import { createTestDatabase } from '../helpers/postgres-server';
import { resetRuntime, startTestStorage, testDialect, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const onPostgres = testDialect() === 'postgres' ? describe : describe.skip;
const adminUrl = () => process.env.TEST_DATABASE_URL!;

describe('placeholders', () => {
  it('numbers ? outside quoted strings, identifiers and comments', () => {
    expect(toPostgresPlaceholders(`SELECT '?' AS q, "a?" FROM t WHERE a = ? AND b IN (?, ?) -- why?\n AND c = ?`)).toBe(
      `SELECT '?' AS q, "a?" FROM t WHERE a = $1 AND b IN ($2, $3) -- why?\n AND c = $4`,
    );
  });
});

onPostgres('PostgreSQL', () => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await startTestStorage();
    await useFreshDatabase();
    process.env.REGISTER_MAX_PER_IP = '1000';
    await resetRuntime();
  });
  afterAll(async () => {
    delete process.env.REGISTER_MAX_PER_IP;
    await resetRuntime();
    await storage.close();
  });

  it('has the same tables and columns as SQLite at the same version', async () => {
    const sqlite = openSqlite(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-parity-')), 'a.db'), { journalMode: 'WAL' });
    const sqliteColumns = new Map<string, string[]>();
    for (const { name } of sqlite.raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>) {
      const columns = (sqlite.raw.prepare(`PRAGMA table_info(${name})`).all() as Array<{ name: string }>).map((column) => column.name);
      sqliteColumns.set(name, columns.sort());
    }
    await sqlite.close();
    await getDb().ready();
    const rows = await getDb().all<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`,
    );
    const pgColumns = new Map<string, string[]>();
    for (const row of rows) pgColumns.set(row.table_name, [...(pgColumns.get(row.table_name) ?? []), row.column_name]);
    // sessions.rowid: SQLite's implicit rowid, an explicit column on PostgreSQL.
    pgColumns.set('sessions', pgColumns.get('sessions')!.filter((column) => column !== 'rowid'));
    expect(Object.fromEntries([...pgColumns].map(([table, columns]) => [table, columns.sort()]))).toEqual(Object.fromEntries(sqliteColumns));
    expect(Math.max(...postgresMigrations.map((m) => m.version))).toBe(Math.max(...migrations.map((m) => m.version)));
  });

  it('applies its migrations once when several cold starts race, and is a no-op after', async () => {
    const url = await createTestDatabase(adminUrl());
    const pools = Array.from({ length: 5 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    try {
      const applied = await Promise.all(pools.map((pool) => migratePostgres(pool)));
      expect(applied.filter((versions) => versions.length > 0)).toEqual([postgresMigrations.map((m) => m.version)]);
      expect(await migratePostgres(pools[0]!)).toEqual([]);
      const recorded = await pools[0]!.query('SELECT version FROM schema_migrations');
      expect(recorded.rows).toEqual([{ version: 10 }]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('retries a transaction the server aborted for a serialization conflict, so every increment lands', async () => {
    const db = getDb();
    await db.run('INSERT INTO throttle_counters (scope, key, count, expires_at) VALUES (?, ?, 0, ?)', 'ip', 'serial-test', 4_000_000_000);
    // Read-then-write under SERIALIZABLE: concurrent ones conflict and PostgreSQL aborts all but one.
    await Promise.all(
      Array.from({ length: 8 }, () =>
        db.transaction(async (tx) => {
          const row = (await tx.get<{ count: number }>('SELECT count FROM throttle_counters WHERE scope = ? AND key = ?', 'ip', 'serial-test'))!;
          await new Promise((resolve) => setTimeout(resolve, 5));
          await tx.run('UPDATE throttle_counters SET count = ? WHERE scope = ? AND key = ?', row.count + 1, 'ip', 'serial-test');
        }),
      ),
    );
    expect(await db.get('SELECT count FROM throttle_counters WHERE key = ?', 'serial-test')).toEqual({ count: 8 });
  });

  it('answers 503 with Retry-After, never a 500, when conflicts outlast every retry or a lone statement loses a deadlock', async () => {
    // Attack: 100 concurrent plans of one user (100 Lambda containers) read the same quota rows
    // under SERIALIZABLE; a few lost the conflict 10 times in a row and answered 500. Simulated
    // here by a server that aborts every attempt, as sustained contention does.
    const db = getDb();
    let attempts = 0;
    const exhausted = await db
      .transaction(async (tx) => {
        attempts += 1;
        await tx.run("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
      })
      .catch((caught: unknown) => caught);
    expect(attempts).toBe(10);
    expect(exhausted).toBeInstanceOf(HttpError);
    expect(exhausted).toMatchObject({ status: 503, headers: { 'Retry-After': expect.any(String) } });
    // A statement outside transaction() (the throttle upsert, the sweeps) has no retry: a
    // deadlock it loses (40P01) is as transient, so 503 too.
    const deadlocked = await db.run("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$").catch((caught: unknown) => caught);
    expect(deadlocked).toBeInstanceOf(HttpError);
    expect(deadlocked).toMatchObject({ status: 503, headers: { 'Retry-After': expect.any(String) } });
  });

  it('answers 503, not a hang to the Lambda timeout, when the server stops answering on an open connection', async () => {
    // Attack/fault: the server (or the path to it) goes silent mid-connection (an instance lost
    // under load, a blackholed route): no RST, so TCP waits for hours; without a read timeout the
    // request hung to the function's 28 s timeout and API Gateway answered its bare 500.
    const server = new URL(process.env.DATABASE_URL!);
    let silent = false;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(server.port), server.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => (client.destroy(), upstream.destroy()));
      }
      client.on('data', (chunk) => silent || upstream.write(chunk));
      upstream.on('data', (chunk) => silent || client.write(chunk));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const through = new URL(server);
    through.hostname = '127.0.0.1';
    through.port = String((proxy.address() as net.AddressInfo).port);
    const db = new PostgresDatabase({ url: through.toString(), poolMax: 1, queryTimeoutMs: 1000, connectTimeoutMs: 1000 });
    try {
      // Silent in the middle of a transaction: no ROLLBACK waited for, the connection dropped.
      let started = Date.now();
      const inTransaction = await db
        .transaction(async (tx) => {
          await tx.get('SELECT 1 AS one');
          silent = true;
          return tx.get('SELECT 2 AS two');
        })
        .catch((caught: unknown) => caught);
      expect(inTransaction).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
      expect(Date.now() - started).toBeLessThan(5000);
      silent = false;
      // Silent under a single statement on a connection that was fine.
      expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
      silent = true;
      started = Date.now();
      expect(await db.get('SELECT 1 AS one').catch((caught: unknown) => caught)).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
      expect(Date.now() - started).toBeLessThan(5000);
      // The silent connection was dropped, not reused: once the server answers, so do requests.
      silent = false;
      expect(await db.get('SELECT 2 AS two')).toEqual({ two: 2 });
    } finally {
      silent = false;
      for (const socket of sockets) socket.destroy();
      await db.close().catch(() => undefined);
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 20_000);

  it('refuses a statement on the database from inside its own transaction (it would run outside it)', async () => {
    await expect(getDb().transaction(async () => getDb().get('SELECT 1 AS one'))).rejects.toThrow(/use the transaction handle/);
  });

  it('answers 503 with Retry-After, not a 500 or a hang, when the server cannot be reached', async () => {
    const unreachable = new PostgresDatabase({ url: 'postgres://nobody:x@127.0.0.1:9/none', poolMax: 1, connectTimeoutMs: 2000 });
    const error = await unreachable.get('SELECT 1').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
    await unreachable.close();

    process.env.DATABASE_URL = 'postgres://nobody:x@127.0.0.1:9/none';
    await resetRuntime();
    const answer = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: 'down@example.com', password: 'SecurePassword123!' } }));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.stringify(answer.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/);
    await useFreshDatabase();
    await resetRuntime();
  });

  describe('npm run db:copy', () => {
    const password = 'SecurePassword123!';
    const post = (route: string, json: unknown, token?: string) => createTestEventV2({ method: 'POST', path: route, json, ...(token ? { token } : {}) });

    it('moves a live SQLite database into PostgreSQL: the same logins, tokens, sessions and files work after', async () => {
      // Build the SQLite side through the API itself.
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-copy-')), 'app.db');
      process.env.DATABASE_URL = `sqlite:///${file}`;
      await resetRuntime();
      expect((await invoke(register, post('/auth/register', { email: 'carol@example.com', password }))).status).toBe(201);
      const tokens = (await invoke(login, post('/auth/login', { email: 'carol@example.com', password }))).body as { access_token: string; refresh_token: string };
      const second = (await invoke(login, post('/auth/login', { email: 'carol@example.com', password }))).body as { access_token: string };
      const content = pdfBytes(2048);
      const { body, contentType } = multipartBody([{ name: 'file', filename: 'report.pdf', contentType: 'application/pdf', content }]);
      const stored = await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token: tokens.access_token, binary: body, headers: { 'content-type': contentType } }));
      expect(stored.status).toBe(200);
      const filesBefore = (await invoke(listFiles, createTestEventV2({ path: '/files', token: tokens.access_token }))).body;
      const sessionsBefore = (await invoke(listSessions, createTestEventV2({ path: '/auth/sessions', token: second.access_token }))).body;
      await closeDb();

      const target = await createTestDatabase(adminUrl());
      const source = openSqlite(file, { journalMode: undefined });
      const destination = new PostgresDatabase({ url: target, poolMax: 1 });
      const report = await copySqliteToPostgres(source, destination);
      expect(report.rows).toMatchObject({ users: 1, sessions: 2, refresh_tokens: 2, files: 1 });
      // Into a database that holds rows already: refused, nothing written.
      await expect(copySqliteToPostgres(source, destination)).rejects.toThrow(/not empty/);
      await source.close();
      await destination.close();

      process.env.DATABASE_URL = target;
      await resetRuntime();
      expect((await invoke(me, createTestEventV2({ path: '/auth/me', token: tokens.access_token }))).body).toMatchObject({ email: 'carol@example.com' });
      expect((await invoke(listFiles, createTestEventV2({ path: '/files', token: tokens.access_token }))).body).toEqual(filesBefore);
      expect((await invoke(listSessions, createTestEventV2({ path: '/auth/sessions', token: second.access_token }))).body).toEqual(sessionsBefore);
      expect((await invoke(login, post('/auth/login', { email: 'carol@example.com', password }))).status).toBe(200);
      const rotated = await invoke(refresh, post('/auth/refresh', { refresh_token: tokens.refresh_token }));
      expect(rotated.status).toBe(200);
      // New sessions keep their place after the copied ones (the sequence moved past them).
      const listed = (await invoke(listSessions, createTestEventV2({ path: '/auth/sessions', token: second.access_token }))).body as { sessions: unknown[] };
      expect(listed.sessions).toHaveLength(3);
      expect((await getDb().get<{ n: number }>('SELECT COUNT(*) AS n FROM sessions'))!.n).toBe(3);
    });

    it('copies rows an older version stored with NUL (a User-Agent before requestOrigin dropped it), instead of failing the whole copy', async () => {
      // Attack: before b86df96 SQLite stored a client's User-Agent verbatim, NUL included; PostgreSQL
      // text cannot hold U+0000 (22021), so one such request made every later copy fail.
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-copy-')), 'nul.db');
      const source = openSqlite(file, { journalMode: undefined });
      source.raw
        .prepare('INSERT INTO audit_events (id, user_id, at, type, ip, user_agent, request_id, details) VALUES (?, NULL, ?, ?, ?, ?, ?, ?)')
        .run('3f1c2a4e-0000-4000-8000-000000000001', '2026-01-01T00:00:00Z', 'auth.login.failed', '203.0.113.9', 'Evil\u0000Agent/1.0', 'req-1', '{"reason":"wrong_password"}');
      const target = await createTestDatabase(adminUrl());
      const destination = new PostgresDatabase({ url: target, poolMax: 1 });
      try {
        const report = await copySqliteToPostgres(source, destination);
        expect(report.rows.audit_events).toBe(1);
        // The same user agent the API records today for that request (lib/request-origin.ts).
        expect((await destination.get<{ user_agent: string }>('SELECT user_agent FROM audit_events'))!.user_agent).toBe('EvilAgent/1.0');
      } finally {
        await source.close();
        await destination.close();
      }
    });

    it('takes the target from TARGET_DATABASE_URL, so the password is not on the command line, and prints no password', async () => {
      // Attack: the documented command put the master password in argv, readable by any user of
      // the migration host (ps, /proc/<pid>/cmdline) while the copy runs, and in shell history.
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-copy-')), 'cli.db');
      const source = openSqlite(file, { journalMode: undefined });
      source.raw.prepare('INSERT INTO throttle_counters (scope, key, count, expires_at) VALUES (?, ?, 1, ?)').run('ip', 'cli-test', 4_000_000_000);
      await source.close();
      const target = await createTestDatabase(adminUrl());
      const secret = decodeURIComponent(new URL(target).password);
      const { execFile } = await import('node:child_process');
      const run = (env: NodeJS.ProcessEnv) =>
        new Promise<{ code: number; output: string }>((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', 'infra/db-copy.ts', `sqlite:///${file}`], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
          );
        });
      const copied = await run({ TARGET_DATABASE_URL: target });
      expect(copied).toMatchObject({ code: 0, output: expect.stringMatching(/Copied 1 rows/) });
      expect(copied.output).not.toContain(secret);
      // A second run meets a non-empty database: refused, and the message names no password either.
      const refused = await run({ TARGET_DATABASE_URL: target });
      expect(refused).toMatchObject({ code: 1, output: expect.stringMatching(/not empty/) });
      expect(refused.output).not.toContain(secret);
    }, 60_000);

    it('refuses databases at different schema versions', async () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-copy-')), 'old.db');
      const source = openSqlite(file, { journalMode: 'WAL' });
      source.raw.prepare('DELETE FROM schema_migrations WHERE version = 10').run();
      const destination = new PostgresDatabase({ url: await createTestDatabase(adminUrl()), poolMax: 1 });
      await expect(copySqliteToPostgres(source, destination)).rejects.toThrow(/Schema versions differ/);
      await source.close();
      await destination.close();
    });
  });
});

onPostgres('PostgreSQL through the RDS-generated secret (database=aurora)', () => {
  const REGION = 'eu-west-1';
  const CREDENTIALS = { accessKeyId: 'ASIAAURORATEST', secretAccessKey: 'aurora-secret-access-key', sessionToken: 'aurora-session-token' };
  const ARN = `arn:aws:secretsmanager:${REGION}:123456789012:secret:AuroraClusterSecret-AbCdEf`;
  const AWS_ENV = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  };
  let fake: FakeSecretsManager;
  let secretJson: Record<string, unknown>;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    fake = await startFakeSecretsManager(CREDENTIALS, REGION);
    fake.reply = (call) => (call.body.SecretId === ARN ? { status: 200, body: { ARN, SecretString: JSON.stringify(secretJson) } } : { status: 400, body: {}, errorType: 'ResourceNotFoundException' });
    for (const name of [...Object.keys(AWS_ENV), 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'DATABASE_URL', 'DATABASE_SECRET_ARN', 'DATABASE_TLS']) saved[name] = process.env[name];
  });

  beforeEach(async () => {
    // What RDS writes into the secret it generates for a cluster.
    const url = new URL(await useFreshDatabase());
    secretJson = {
      engine: 'postgres',
      host: url.hostname,
      port: Number(url.port),
      dbname: url.pathname.slice(1),
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      dbClusterIdentifier: 'aurora-test',
    };
    delete process.env.DATABASE_URL;
    // The suite's server speaks no TLS; Aurora's path with TLS verified runs in bundles.test.ts.
    Object.assign(process.env, AWS_ENV, { AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url, DATABASE_SECRET_ARN: ARN, DATABASE_TLS: 'off' });
    fake.calls.length = 0;
    await resetRuntime();
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await fake.close();
    await useFreshDatabase();
    await resetRuntime();
  });

  it('registers and logs in with only DATABASE_SECRET_ARN set, reading the secret once per container', async () => {
    const credentials = { email: 'aurora@example.com', password: 'SecurePassword123!' };
    const created = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    expect(created.status).toBe(201);
    const duplicate = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    expect(duplicate.status).toBe(409);
    const session = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
    expect(session.status).toBe(200);
    const reads = fake.calls.filter((call) => call.body.SecretId === ARN);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toEqual({ target: 'secretsmanager.GetSecretValue', body: { SecretId: ARN } });
  });

  it('takes host, port, database and credentials from the secret, over a DATABASE_URL that names something else', async () => {
    process.env.DATABASE_URL = 'postgres://someone:wrong@127.0.0.1:9/elsewhere';
    await resetRuntime();
    expect(await getDb().get<{ db: string }>('SELECT current_database() AS db')).toEqual({ db: secretJson.dbname });
  });

  it.each([
    ['a secret without a password', () => ({ username: 'u', host: 'h' })],
    ['a secret that is not JSON', () => 'not json'],
  ])('answers 500 (logged, nothing internal in the body) for %s', async (_name, make) => {
    const value = make();
    fake.reply = () => ({ status: 200, body: { ARN, SecretString: typeof value === 'string' ? value : JSON.stringify(value) } });
    try {
      const answer = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: 'broken@example.com', password: 'SecurePassword123!' } }));
      expect(answer.status).toBe(500);
      expect(JSON.stringify(answer.body)).not.toMatch(/DATABASE_SECRET_ARN|username|password|SyntaxError/);
    } finally {
      fake.reply = (call) => (call.body.SecretId === ARN ? { status: 200, body: { ARN, SecretString: JSON.stringify(secretJson) } } : { status: 400, body: {}, errorType: 'ResourceNotFoundException' });
    }
  });

  it('survives a password rotation: one 503 with Retry-After, then the secret is read again and requests work', async () => {
    const role = `aurora_rot_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'first-password'`);
      await admin.query(`ALTER DATABASE ${String(secretJson.dbname)} OWNER TO ${role}`);
      secretJson = { ...secretJson, username: role, password: 'first-password' };
      await resetRuntime();
      expect(await getDb().get('SELECT current_user AS who')).toEqual({ who: role });
      expect(fake.calls).toHaveLength(1);

      // The rotation: a new password on the server and in the secret; the container's open
      // connection dies (as after an idle_session_timeout) and its cached password is stale.
      await admin.query(`ALTER ROLE ${role} PASSWORD 'second-password'`);
      secretJson = { ...secretJson, password: 'second-password' };
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await new Promise((resolve) => setTimeout(resolve, 100));

      const refused = await getDb().get('SELECT 1 AS one').catch((caught: unknown) => caught);
      expect(refused).toBeInstanceOf(HttpError);
      expect(refused).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
      expect(await getDb().get('SELECT current_user AS who')).toEqual({ who: role });
      expect(fake.calls).toHaveLength(2);
    } finally {
      await resetRuntime();
      await admin.end();
    }
  });

  it('answers 503 with Retry-After when Secrets Manager cannot be reached (a retryable failure), never a hang', async () => {
    fake.reply = () => ({ status: 503, body: { __type: 'ServiceUnavailable' }, errorType: 'ServiceUnavailable' });
    try {
      const answer = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: 'nosecret@example.com', password: 'SecurePassword123!' } }));
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
    } finally {
      fake.reply = (call) => (call.body.SecretId === ARN ? { status: 200, body: { ARN, SecretString: JSON.stringify(secretJson) } } : { status: 400, body: {}, errorType: 'ResourceNotFoundException' });
    }
  });
});

onPostgres('a Lambda container idle past what the server allows', () => {
  it('replaces its connection before the next query instead of using one the server may have closed', async () => {
    const url = await createTestDatabase(adminUrl());
    const db = new PostgresDatabase({ url, poolMax: 1, maxIdleMs: 1000 });
    try {
      const pid = async () => (await db.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))?.pid;
      const first = await pid();
      expect(await pid()).toBe(first); // warm and busy: the same connection
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const after = await pid();
      expect(after).toEqual(expect.any(Number));
      expect(after).not.toBe(first);
      // Migrations ran once, at the first open; the replacement did not run them again.
      expect(await db.get<{ n: number }>('SELECT count(*) AS n FROM schema_migrations')).toEqual({ n: postgresMigrations.length });
    } finally {
      await db.close();
    }
  });

  it('still works after the server ended the idle session (idle_session_timeout, as on Aurora)', async () => {
    const url = new URL(await createTestDatabase(adminUrl()));
    url.searchParams.set('options', '-c idle_session_timeout=200');
    const db = new PostgresDatabase({ url: url.toString(), poolMax: 1, maxIdleMs: 100 });
    try {
      expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await db.get('SELECT 2 AS two')).toEqual({ two: 2 });
    } finally {
      await db.close();
    }
  });
});
