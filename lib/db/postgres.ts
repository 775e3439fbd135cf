import pg from 'pg';
import { HttpError } from '../http/errors';
import { logger } from '../logger';
import type { Database, Queryable, RunResult, SqlValue } from './database';
import type { Migration } from './migrations';
import { postgresMigrations } from './postgres-migrations';
import { assertOutsideTransaction, insideTransaction } from './transaction-scope';

/** Where and as whom to connect, as the RDS-generated secret says it (fields it lacks come from the URL). */
export interface PostgresTarget {
  readonly user: string;
  readonly password: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
}

export interface PostgresOptions {
  /** `postgres://...`; may be left out when `target` names the host (Aurora through its secret). */
  readonly url?: string;
  /** Connections this process keeps: 1 in Lambda (a container serves one request at a time). */
  readonly poolMax: number;
  /** The server and credentials from elsewhere (Secrets Manager), read once per pool; override the URL's. */
  readonly target?: () => Promise<PostgresTarget>;
  /**
   * With `target`: `verify` (TLS, certificate and host name checked against the trusted CAs) or
   * `off`. Without it the URL's `sslmode` decides.
   */
  readonly tls?: 'verify' | 'off';
  /**
   * How long to wait for a connection before answering 503: Aurora Serverless v2 takes about
   * 15 s to resume from 0 ACU, so the default 20 s covers a resume; the Lambda timeout of the
   * database functions is above it (infra/stack.ts).
   */
  readonly connectTimeoutMs?: number;
  /**
   * A pooled connection unused for this long is not trusted again: it is replaced before the
   * next query. A frozen Lambda container runs no timers, so the pool's own idle timeout cannot
   * close it, while the server (Aurora's `idle_session_timeout`, which lets a cluster with
   * only frozen containers pause) may already have. Must stay below that server timeout.
   */
  readonly maxIdleMs?: number;
  /**
   * How long to wait for a statement's answer on an open connection before giving up on that
   * connection (it is dropped, the request answers 503): a server or route that went silent
   * sends no reset, and TCP would wait past every Lambda timeout. Every statement here is short
   * (indexed, bounded); migrations are exempt. Default 10 s: with a 20 s connection wait that
   * a resume may use, a function still answers within its 28 s. 0: no limit (the copy command).
   */
  readonly queryTimeoutMs?: number;
  readonly migrations?: readonly Migration[];
}

export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/** pg's error when `query_timeout` passes without an answer. */
const isReadTimeout = (error: unknown): boolean => /^Query read timeout$/.test(String((error as { message?: unknown } | null)?.message ?? ''));

/** The Aurora cluster's `idle_session_timeout` (infra/constructs/aurora.ts) is 2 minutes; stay well below. */
export const DEFAULT_MAX_IDLE_MS = 60_000;

/** BIGINT (sizes, Unix seconds, counts) and NUMERIC (sums) as numbers, like SQLite's; all stay below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const numbered = new Map<string, string>();

/** `?` placeholders as `$1, $2, ...` (outside quoted strings, identifiers and comments). */
export function toPostgresPlaceholders(sql: string): string {
  let cached = numbered.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i += 1) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${(n += 1)}`;
    } else {
      out += c;
    }
  }
  numbered.set(sql, (cached = out));
  return cached;
}

/** Serialization failure and deadlock: the server aborted the transaction; running it again is safe. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 10;

/** Could not reach the server, or lost it: nothing the client did; worth a retry shortly. */
function isUnavailable(error: unknown): boolean {
  const code = String((error as { code?: unknown } | null)?.code ?? '');
  const message = String((error as { message?: unknown } | null)?.message ?? '');
  // Secrets Manager timed out or throttled through every retry (lib/aws/json-call.ts): as transient as the server.
  if ((error as { name?: unknown } | null)?.name === 'AwsCallError' && (error as { retryable?: unknown }).retryable === true) return true;
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code) ||
    /^(08|57P0[1-3]|53300)/.test(code) || // connection exceptions, admin shutdown / cannot connect now, too many connections
    /timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout/i.test(message)
  );
}

/** 503 with Retry-After instead of a 500 or a hang: Aurora resuming from zero capacity, a failover, a restart. */
function unavailable(cause: unknown): HttpError {
  logger.warn('Database unavailable', { error: cause as Error });
  return new HttpError(503, 'The database is not reachable right now; try again in a few seconds', { headers: { 'Retry-After': '5' }, cause });
}

/**
 * A serialization failure or deadlock that no retry resolved (sustained contention, or a lone
 * statement outside transaction(), which has no retry): the request did nothing wrong and may
 * succeed in a moment, so 503 with Retry-After, like SQLite's busy timeout, never a 500.
 */
function isContended(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE.has(code);
}

function contended(cause: unknown): HttpError {
  logger.warn('Database contended: serialization conflict or deadlock outlasted the retries', { error: cause as Error });
  return new HttpError(503, 'The database is busy right now; try again in a moment', { headers: { 'Retry-After': '1' }, cause });
}

/** The error a caller sees: 503 for what a retry may cure, the error itself otherwise. */
const transient = (error: unknown): unknown => (isUnavailable(error) ? unavailable(error) : isContended(error) ? contended(error) : error);

async function guarded<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw transient(error);
  }
}

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    dialect: 'postgres',
    get: async <T>(sql: string, ...params: readonly SqlValue[]) => (await client.query(toPostgresPlaceholders(sql), params as SqlValue[])).rows[0] as T | undefined,
    all: async <T>(sql: string, ...params: readonly SqlValue[]) => (await client.query(toPostgresPlaceholders(sql), params as SqlValue[])).rows as T[],
    run: async (sql: string, ...params: readonly SqlValue[]): Promise<RunResult> => ({
      changes: (await client.query(toPostgresPlaceholders(sql), params as SqlValue[])).rowCount ?? 0,
    }),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * PostgreSQL through node-postgres: a small pool (one connection in Lambda), transactions
 * `SERIALIZABLE` so that every read-check-write behaves as it does under SQLite's single
 * writer, retried with jittered backoff when the server reports a serialization conflict.
 */
export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  private pool: Promise<pg.Pool> | undefined;
  /** Connection settings of the open pool, kept to replace its connections without migrating again. */
  private settings: pg.PoolConfig | undefined;
  private lastUsed = 0;

  constructor(private readonly options: PostgresOptions) {}

  /** The pool, created and migrated once; a failed start is retried by the next call. */
  private connected(): Promise<pg.Pool> {
    const now = Date.now();
    const idle = now - this.lastUsed;
    this.lastUsed = now;
    if (this.pool && this.settings && idle > (this.options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS)) {
      // Idle past what the server may allow (or frozen with the container): start afresh rather
      // than send the request down a connection the server may have closed.
      const stale = this.pool;
      const settings = this.settings;
      this.pool = stale.then((old) => {
        void old.end().catch(() => undefined);
        return this.newPool(settings);
      });
    }
    if (!this.pool) {
      this.pool = this.open();
      this.pool.catch(() => (this.pool = undefined));
    }
    return this.pool;
  }

  /** What pg needs: the URL alone, or the secret's fields over the URL's. */
  private async connectionSettings(): Promise<pg.PoolConfig> {
    const { url, target, tls } = this.options;
    if (!target) {
      if (!url) throw new Error('PostgreSQL needs a DATABASE_URL or a DATABASE_SECRET_ARN');
      return { connectionString: url };
    }
    const found = await target();
    // pg lets a connectionString override explicit fields, so the URL's parts are merged here.
    const base = url ? new URL(url) : undefined;
    const host = found.host ?? (base?.hostname ? decodeURIComponent(base.hostname).replace(/^\[(.*)\]$/, '$1') : undefined);
    const database = found.database ?? (base && base.pathname.length > 1 ? decodeURIComponent(base.pathname.slice(1)) : undefined);
    if (!host) throw new Error('DATABASE_SECRET_ARN names no host, and there is no DATABASE_URL to take it from');
    return {
      host,
      port: found.port ?? (base?.port ? Number(base.port) : 5432),
      ...(database ? { database } : {}),
      user: found.user,
      password: found.password,
      // Host name and chain both checked (Node's default checkServerIdentity): Aurora's
      // certificates chain to the RDS CAs, which Lambda's Node runtimes load only when
      // NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem (set by the stack).
      ssl: tls === 'off' ? false : { rejectUnauthorized: true },
    };
  }

  private newPool(settings: pg.PoolConfig): pg.Pool {
    const pool = new pg.Pool({
      ...settings,
      max: this.options.poolMax,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 20_000,
      idleTimeoutMillis: this.options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS,
      keepAlive: true,
      query_timeout: this.options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
      // A script (the copy command, a worker) ends when its work does; Lambda and servers never idle out.
      allowExitOnIdle: true,
      types,
      application_name: 'secure-upload-api',
    });
    // An idle connection the server dropped (a frozen Lambda container, a failover) must not
    // crash the process; the pool replaces it on the next checkout.
    pool.on('error', (error) => logger.warn('Idle database connection lost', { error }));
    return pool;
  }

  private async open(): Promise<pg.Pool> {
    const settings = await this.connectionSettings();
    const pool = this.newPool(settings);
    try {
      await guarded(() => migratePostgres(pool, this.options.migrations));
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    this.settings = settings;
    return pool;
  }

  /**
   * {@link guarded}, plus: a refused password while the credentials come from the secret means
   * they changed (a rotation). Forget them, so the next request reads the secret again, and
   * answer 503 with Retry-After meanwhile: a retry succeeds, nobody sees a 500.
   */
  private async guarded<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (this.options.target && (error as { code?: unknown } | null)?.code === '28P01') {
        const stale = this.pool;
        this.pool = undefined;
        this.settings = undefined;
        void stale?.then((pool) => pool.end()).catch(() => undefined);
        throw unavailable(error);
      }
      throw transient(error);
    } finally {
      // Idle time counts from the end of the last use (a cold start's migrations can be slow).
      this.lastUsed = Date.now();
    }
  }

  async get<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T | undefined> {
    assertOutsideTransaction(this);
    const pool = await this.guarded(() => this.connected());
    return this.guarded(() => queryable(pool).get<T>(sql, ...params));
  }

  async all<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T[]> {
    assertOutsideTransaction(this);
    const pool = await this.guarded(() => this.connected());
    return this.guarded(() => queryable(pool).all<T>(sql, ...params));
  }

  async run(sql: string, ...params: readonly SqlValue[]): Promise<RunResult> {
    assertOutsideTransaction(this);
    const pool = await this.guarded(() => this.connected());
    return this.guarded(() => queryable(pool).run(sql, ...params));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    assertOutsideTransaction(this);
    const pool = await this.guarded(() => this.connected());
    for (let attempt = 1; ; attempt += 1) {
      const client = await this.guarded(() => pool.connect());
      let broken: unknown;
      try {
        await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        const result = await insideTransaction(this, () => work(queryable(client)));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that went silent would only time out again on ROLLBACK: dropped at once.
        if (isReadTimeout(error)) broken = error;
        else await client.query('ROLLBACK').catch((rollback: unknown) => (broken = rollback));
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * 5 * 2 ** Math.min(attempt, 6));
          continue;
        }
        throw transient(error);
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    }
  }

  async ready(): Promise<void> {
    await this.connected();
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await (await pool.catch(() => undefined))?.end();
  }
}

/** A migration (and the wait for another container's, under the lock) may take this long. */
const MIGRATION_TIMEOUT_MS = 15 * 60_000;

/** Any key will do, as long as it is this application's: the migration lock of `migratePostgres`. */
const MIGRATION_LOCK = 7_463_219_205;

/**
 * Applies every migration not recorded yet, in one transaction under an advisory lock, so that
 * containers cold-starting together apply each exactly once (the others wait, then find nothing
 * to do). A no-op (one read) when already current.
 *
 * @returns the versions applied by this call
 */
export async function migratePostgres(pool: pg.Pool, list: readonly Migration[] = postgresMigrations): Promise<number[]> {
  const ordered = [...list].sort((a, b) => a.version - b.version);
  const done = async (client: pg.Pool | pg.PoolClient) => {
    const exists = await client.query(`SELECT to_regclass('schema_migrations') AS name`);
    if (exists.rows[0].name === null) return new Set<number>();
    const rows = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    return new Set(rows.rows.map((row) => Number(row.version)));
  };
  const before = await done(pool);
  if (ordered.every((migration) => before.has(migration.version))) return [];

  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query({ text: 'SELECT pg_advisory_xact_lock($1)', values: [MIGRATION_LOCK], query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`);
    const recorded = await done(client); // re-read under the lock: another container may have won
    const applied: number[] = [];
    for (const migration of ordered.filter((m) => !recorded.has(m.version))) {
      // Exempt from the pool's read timeout: a migration may rewrite a large table.
      await client.query({ text: migration.sql, query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        new Date().toISOString(),
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
