import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { decodeKey32, getConfig, resetConfig } from '../../lib/config';
import { closeMail } from '../../lib/mail/mailer';
import { closeDb, getDb } from '../../lib/db/connection';
import { runScheduledSweep } from '../../lib/sweep';
import { resetSigningKey } from '../../lib/auth/signing-key';
import { sweepMfaChallenges } from '../../lib/mfa/challenges';
import { resetMfaKey } from '../../lib/mfa/secret-box';
import { getS3, resetS3 } from '../../lib/storage/s3';
import { startEmbeddedS3, type EmbeddedS3, type EmbeddedS3Credentials } from './embedded-s3';
import { startApiServer } from './server';

export interface LocalRuntime {
  readonly apiUrl: string;
  readonly docsUrl: string;
  readonly s3Url: string;
  /** What the runtime decided for the user, to print at start-up. */
  readonly notes: readonly string[];
  close(): Promise<void>;
}

export interface LocalRuntimeOptions {
  readonly log?: (line: string) => void;
}

/**
 * The whole product on one machine with nothing but Node: an embedded S3-compatible server
 * (unless `S3_ENDPOINT` points at one, such as MinIO), SQLite and objects under `DATA_DIR`, a
 * generated development JWT secret, and the real handlers behind an API Gateway emulation.
 *
 * Configuration is `process.env`, as in Lambda: the handlers run in this process and read it,
 * so the defaults the runtime decides (secret, endpoint, credentials) are written back into it.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = process.env;
  const notes: string[] = [];
  const dataDir = path.resolve(env.DATA_DIR || './.data');
  fs.mkdirSync(dataDir, { recursive: true });
  env.DATA_DIR = dataDir;

  if (!env.JWT_SECRET && !env.JWT_SECRET_ARN && env.NODE_ENV !== 'production') {
    const { secret, file, created } = developmentSecret(dataDir, 'jwt-secret', () => randomBytes(32).toString('hex'), (value) => Buffer.byteLength(value) >= 32);
    env.JWT_SECRET = secret;
    notes.push(`${created ? 'Generated' : 'Using'} a development JWT secret in ${file} (set JWT_SECRET to use your own)`);
  }

  // Its own key, never derived from the JWT secret (rotating that must not lock anyone out of MFA).
  if (!env.MFA_ENCRYPTION_KEY && !env.MFA_ENCRYPTION_KEY_ARN && env.NODE_ENV !== 'production') {
    const { secret, file, created } = developmentSecret(dataDir, 'mfa-encryption-key', () => randomBytes(32).toString('hex'), (value) => decodeKey32(value) !== undefined);
    env.MFA_ENCRYPTION_KEY = secret;
    notes.push(`${created ? 'Generated' : 'Using'} a development MFA encryption key in ${file} (set MFA_ENCRYPTION_KEY to use your own; losing it disables MFA logins)`);
  }

  let embedded: EmbeddedS3 | undefined;
  if (!env.S3_ENDPOINT) {
    resetConfig();
    const config = getConfig(); // validates S3_PORT, S3_BUCKET, HOST and the key pair before anything listens
    const credentials = embeddedCredentials(config.s3, dataDir);
    embedded = await startEmbeddedS3({
      host: config.local.host,
      port: config.local.s3Port,
      directory: path.join(dataDir, 's3'),
      bucket: config.s3.bucket,
      region: config.s3.region,
      corsOrigins: config.corsOrigins,
      credentials: credentials.pair,
    });
    const host = ['0.0.0.0', '::'].includes(config.local.host) ? 'localhost' : config.local.host;
    env.S3_ENDPOINT = `http://${host}:${embedded.port}`;
    // The API signs with the very pair the server accepts.
    env.S3_ACCESS_KEY_ID = credentials.pair.accessKeyId;
    env.S3_SECRET_ACCESS_KEY = credentials.pair.secretAccessKey;
    notes.push(`Embedded S3 server (s3rver, SigV4-verified like AWS) keeps objects in ${path.join(dataDir, 's3')}`);
    notes.push(`Embedded S3 access key id: ${credentials.pair.accessKeyId} (${credentials.origin})`);
  }

  resetConfig();
  resetS3();
  resetSigningKey();
  resetMfaKey();
  const config = getConfig();
  try {
    if (!embedded) await ensureBucket(config.s3.bucket);
    await getDb().ready(); // open and migrate now: a broken database fails the start, not the first request
    notes.push(`Database: ${describeDatabase(config.database)}`);
    const api = await startApiServer({
      host: config.local.host,
      port: config.local.port,
      corsOrigins: config.corsOrigins,
      log: options.log,
    });
    if (!env.APP_URL) {
      // Links in mails and share URLs point at this API; known only now when PORT=0.
      env.APP_URL = api.url;
      resetConfig();
    }
    // The web client at / uploads straight to storage from the API's origin: with a CORS_ORIGINS
    // allow-list (not `*`), the embedded server must allow that origin too.
    const origins = config.corsOrigins;
    if (embedded && origins.length > 0 && !origins.includes('*')) {
      await embedded.allowOrigins([...new Set([...origins, ...appOrigins(api.url, getConfig().appUrl)])]);
    }
    if (getConfig().mail.transport === 'outbox') notes.push(`Mail goes to ${path.join(dataDir, 'mail')} (*.eml) and is summarized here`);
    const sweeper = startSweeper(options.log);
    return {
      apiUrl: api.url,
      docsUrl: `${api.url}/docs`,
      s3Url: config.s3.publicEndpoint ?? '',
      notes,
      close: async () => {
        clearInterval(sweeper);
        await api.close();
        await closeMail();
        await embedded?.close();
        await closeDb();
        resetS3();
      },
    };
  } catch (error) {
    await embedded?.close();
    await closeDb();
    throw error;
  }
}

/**
 * The origins a browser may show the web client under: the API's URL and APP_URL, and for a
 * loopback address both of its names (people type localhost, the runtime prints 127.0.0.1).
 */
export function appOrigins(apiUrl: string, appUrl: string | undefined): string[] {
  const origins = new Set<string>();
  for (const url of [apiUrl, appUrl ?? apiUrl]) {
    const parsed = new URL(url);
    origins.add(parsed.origin);
    if (['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) {
      for (const name of ['127.0.0.1', 'localhost', '[::1]']) origins.add(`${parsed.protocol}//${name}${parsed.port ? `:${parsed.port}` : ''}`);
    }
  }
  return [...origins];
}

/**
 * What the scheduled sweep does in AWS, every five minutes: expired direct-upload plans, audit
 * events past AUDIT_RETENTION_DAYS, ended throttle windows and expired CAPTCHA challenges, old
 * sessions, refresh tokens and account tokens, expired MFA login tokens, share links that can never open again (lib/sweep.ts).
 */
function startSweeper(log: ((line: string) => void) | undefined): NodeJS.Timeout {
  const sweep = () =>
    runScheduledSweep().then(
      ({ removed, auditEvents }) => {
        if (removed) log?.(`Swept ${removed} expired upload plan(s)`);
        if (auditEvents) log?.(`Swept ${auditEvents} audit event(s) past AUDIT_RETENTION_DAYS`);
      },
      (error: unknown) => log?.(`Sweep failed: ${String(error)}`),
    );
  void sweep();
  return setInterval(sweep, 5 * 60_000).unref();
}

/**
 * A development secret persisted in `DATA_DIR/<name>` (mode 0600: only this user can read it),
 * created on first start and reused after, so restarts keep tokens and stored URLs valid.
 */
function developmentSecret(dataDir: string, name: string, create: () => string, usable: (secret: string) => boolean): { secret: string; file: string; created: boolean } {
  const file = path.join(dataDir, name);
  try {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (usable(secret)) return { secret, file, created: false };
  } catch {
    // not there yet
  }
  const secret = create();
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  // The mode above applies only to a new file; one that was there (unusable) may be readable.
  fs.chmodSync(file, 0o600);
  return { secret, file, created: true };
}

/**
 * The key pair the embedded S3 server accepts and the API signs with: S3_ACCESS_KEY_ID /
 * S3_SECRET_ACCESS_KEY when set, else a random pair generated once into
 * `DATA_DIR/s3-credentials`. Never a fixed pair: anyone who reaches the port, or any web page
 * through the bucket's CORS rule, could sign with a public one.
 */
function embeddedCredentials(s3: { accessKeyId?: string; secretAccessKey?: string }, dataDir: string): { pair: EmbeddedS3Credentials; origin: string } {
  if (s3.accessKeyId && s3.secretAccessKey) {
    return { pair: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, origin: 'from S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY' };
  }
  const parse = (text: string): EmbeddedS3Credentials | undefined => {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null) return undefined;
      const { accessKeyId, secretAccessKey } = value as Record<string, unknown>;
      return typeof accessKeyId === 'string' && accessKeyId && typeof secretAccessKey === 'string' && secretAccessKey.length >= 32 ? { accessKeyId, secretAccessKey } : undefined;
    } catch {
      return undefined;
    }
  };
  const create = () => JSON.stringify({ accessKeyId: `LOCAL${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') }, null, 2);
  const { secret, file, created } = developmentSecret(dataDir, 's3-credentials', create, (text) => parse(text) !== undefined);
  const pair = parse(secret) as EmbeddedS3Credentials;
  return { pair, origin: `${created ? 'generated into' : 'secret in'} ${file}; set S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY to choose your own` };
}

/** Which database this runtime uses, for the start-up notes: never the password in a URL. */
function describeDatabase(database: ReturnType<typeof getConfig>['database']): string {
  if (database.dialect === 'sqlite') return `SQLite, ${database.path} (journal mode ${database.journalMode})`;
  if (database.dialect !== 'postgres') return 'none';
  if (!database.url) return 'PostgreSQL, from the secret DATABASE_SECRET_ARN names';
  const url = new URL(database.url);
  return `PostgreSQL, ${url.hostname}:${url.port || '5432'}${url.pathname} as ${decodeURIComponent(url.username) || 'the default user'}`;
}

/** Creates the bucket on an external S3-compatible server (MinIO) if it is missing. */
async function ensureBucket(bucket: string): Promise<void> {
  try {
    await getS3().send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await getS3().send(new CreateBucketCommand({ Bucket: bucket }));
  }
}
