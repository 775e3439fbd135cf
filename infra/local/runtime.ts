import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { getConfig, resetConfig } from '../../lib/config';
import { closeDb, getDb } from '../../lib/db/connection';
import { sweepExpiredUploads } from '../../lib/direct-uploads';
import { resetSigningKey } from '../../lib/auth/signing-key';
import { getS3, resetS3 } from '../../lib/storage/s3';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from './embedded-s3';
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
    const { secret, created } = developmentSecret(dataDir);
    env.JWT_SECRET = secret;
    notes.push(`${created ? 'Generated' : 'Using'} a development JWT secret in ${path.join(dataDir, 'jwt-secret')} (set JWT_SECRET to use your own)`);
  }

  let embedded: EmbeddedS3 | undefined;
  if (!env.S3_ENDPOINT) {
    resetConfig();
    const config = getConfig(); // validates S3_PORT, S3_BUCKET, HOST before anything listens
    embedded = await startEmbeddedS3({
      host: config.local.host,
      port: config.local.s3Port,
      directory: path.join(dataDir, 's3'),
      bucket: config.s3.bucket,
      region: config.s3.region,
      corsOrigins: config.corsOrigins,
    });
    const host = ['0.0.0.0', '::'].includes(config.local.host) ? 'localhost' : config.local.host;
    env.S3_ENDPOINT = `http://${host}:${embedded.port}`;
    env.S3_ACCESS_KEY_ID ||= EMBEDDED_S3_CREDENTIALS.accessKeyId;
    env.S3_SECRET_ACCESS_KEY ||= EMBEDDED_S3_CREDENTIALS.secretAccessKey;
    notes.push(`Embedded S3 server (s3rver, SigV4-verified like AWS; credentials S3RVER/S3RVER) keeps objects in ${path.join(dataDir, 's3')}`);
  }

  resetConfig();
  resetS3();
  resetSigningKey();
  const config = getConfig();
  try {
    if (!embedded) await ensureBucket(config.s3.bucket);
    getDb(); // open and migrate now: a broken database fails the start, not the first request
    const api = await startApiServer({
      host: config.local.host,
      port: config.local.port,
      corsOrigins: config.corsOrigins,
      log: options.log,
    });
    const sweeper = startSweeper(options.log);
    return {
      apiUrl: api.url,
      docsUrl: `${api.url}/docs`,
      s3Url: config.s3.publicEndpoint ?? '',
      notes,
      close: async () => {
        clearInterval(sweeper);
        await api.close();
        await embedded?.close();
        closeDb();
        resetS3();
      },
    };
  } catch (error) {
    await embedded?.close();
    closeDb();
    throw error;
  }
}

/** What the scheduled sweep does in AWS: expired direct-upload plans, every five minutes. */
function startSweeper(log: ((line: string) => void) | undefined): NodeJS.Timeout {
  const sweep = () =>
    sweepExpiredUploads().then(
      (removed) => removed && log?.(`Swept ${removed} expired upload plan(s)`),
      (error: unknown) => log?.(`Upload sweep failed: ${String(error)}`),
    );
  void sweep();
  return setInterval(sweep, 5 * 60_000).unref();
}

/** The secret persisted in `DATA_DIR/jwt-secret` (mode 0600), created on first start. */
function developmentSecret(dataDir: string): { secret: string; created: boolean } {
  const file = path.join(dataDir, 'jwt-secret');
  try {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(secret) >= 32) return { secret, created: false };
  } catch {
    // not there yet
  }
  const secret = randomBytes(32).toString('hex');
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, created: true };
}

/** Creates the bucket on an external S3-compatible server (MinIO) if it is missing. */
async function ensureBucket(bucket: string): Promise<void> {
  try {
    await getS3().send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await getS3().send(new CreateBucketCommand({ Bucket: bucket }));
  }
}
