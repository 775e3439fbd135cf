import path from 'node:path';
import type { ScannerBackend } from './scan/scanner';
import * as z from './zod';

/**
 * The whole runtime configuration, read once from the environment and frozen.
 *
 * Every variable is documented in `.env.example` and the README. Bad configuration fails at
 * start-up with one line (`ConfigError.message`) that names the variable.
 */
export interface Config {
  /** `NODE_ENV=production` or running inside AWS Lambda: no fallbacks for secrets. */
  readonly production: boolean;
  readonly inLambda: boolean;
  /** Which database, from `DATABASE_URL`: SQLite (a file) or PostgreSQL (a server). */
  readonly database: DatabaseConfig;
  readonly jwt: {
    /** Set locally (`JWT_SECRET`); in AWS the secret comes from Secrets Manager instead. */
    readonly secret: string | undefined;
    /** `JWT_PREVIOUS_SECRET`: still verifies (never signs) during a rotation of `JWT_SECRET`. */
    readonly previousSecret: string | undefined;
    readonly secretArn: string | undefined;
    readonly issuer: string;
    readonly audience: string;
    readonly accessTtlSeconds: number;
    readonly refreshTtlSeconds: number;
    readonly refreshReuseGraceSeconds: number;
  };
  readonly bcryptRounds: number;
  readonly s3: {
    readonly bucket: string;
    /** Internal address; undefined means AWS S3 itself. */
    readonly endpoint: string | undefined;
    /** The address presigned URLs are signed for (what a browser can reach). */
    readonly publicEndpoint: string | undefined;
    readonly region: string;
    readonly accessKeyId: string | undefined;
    readonly secretAccessKey: string | undefined;
  };
  readonly presignedUrlExpireSeconds: number;
  readonly maxUploadBytes: number;
  /** Direct uploads above this size use S3 multipart (always above 5 GiB, S3's PUT limit). */
  readonly multipartThresholdBytes: number;
  /** Media types accepted (exact, or `type/*`); empty means any. */
  readonly allowedContentTypes: readonly string[];
  readonly corsOrigins: readonly string[];
  readonly userQuotaBytes: number;
  readonly scanner: {
    readonly backend: ScannerBackend;
    /** Used only with backend `clamd`. */
    readonly clamd: { readonly host: string; readonly port: number; readonly timeoutMs: number };
    /**
     * With backend `clamd`: the largest file the API accepts, on either upload path, because it
     * is scanned inline (clamd's `StreamMaxLength` must be at least this). Larger plans are
     * refused up front (413), before anyone uploads bytes that could never be scanned.
     */
    readonly maxBytes: number;
  };
  /**
   * Base of the links people get (mails, share URLs). Locally the local API's URL; in AWS only
   * what `APP_URL` says (undefined when unset: nothing there may invent a host).
   */
  readonly appUrl: string | undefined;
  readonly mail: MailConfig;
  /**
   * `EMAIL_VERIFICATION` as it takes effect: `off` whenever mail is off (no link could reach
   * anyone), except in Lambda, where only the functions that send mail have a transport and the
   * stack sets the deployment's one value on every function (`off` without `-c mailFrom`).
   */
  readonly emailVerification: EmailVerificationMode;
  /** How long a password-reset link works (`PASSWORD_RESET_EXPIRE_SECONDS`). */
  readonly passwordResetTtlSeconds: number;
  /** Abuse protection: failure counters and CAPTCHA (see SPEC "Abuse protection and audit"). */
  readonly abuse: {
    /** Wrong passwords per account within the window before attempts need a CAPTCHA. */
    readonly loginMaxFailures: number;
    /** The window of both failure counters, in seconds. */
    readonly windowSeconds: number;
    /** Failures per client IP within the window before its attempts are refused outright. */
    readonly ipMaxFailures: number;
    /** Registration attempts that reach the email check, per IP and hour. */
    readonly registerMaxPerIp: number;
    readonly captcha: CaptchaMode;
  };
  /** TOTP MFA (SPEC "Accounts and sessions"). */
  readonly mfa: {
    /**
     * `MFA_ENCRYPTION_KEY` as given (64 hex digits or base64 of 32 bytes; decoded by
     * lib/mfa/secret-box.ts, since a frozen config cannot hold a Buffer). Never the JWT secret.
     */
    readonly encryptionKey: string | undefined;
    /** In AWS: the Secrets Manager secret holding that key (only the MFA functions may read it). */
    readonly encryptionKeyArn: string | undefined;
    /** The `issuer` authenticator apps show next to the account. */
    readonly issuer: string;
  };
  /** Audit rows older than this many days are swept. */
  readonly auditRetentionDays: number;
  readonly local: {
    readonly host: string;
    readonly port: number;
    readonly s3Port: number;
    readonly dataDir: string;
  };
}

/** How mail leaves (see lib/mail): `off` drops it with a log line. */
export type MailTransport = 'outbox' | 'smtp' | 'ses' | 'off';

export interface MailConfig {
  readonly transport: MailTransport;
  /** RFC 5322 From, e.g. `Secure Upload <no-reply@example.com>`. */
  readonly from: string;
  /** `smtp` only: `smtp://user:pass@host:port` or `smtps://...`. */
  readonly smtpUrl: string | undefined;
  /**
   * `ses` only: the SQS queue messages are put on instead of calling SES directly (set by the
   * CDK stack: its VPC functions cannot reach the SES API; the mailer function outside the VPC
   * sends what arrives on the queue).
   */
  readonly queueUrl: string | undefined;
}

/**
 * `off`: no verification mail, `email_verified` stays false and nothing asks for it;
 * `optional`: register mails a link, nothing requires it; `required`: login also refuses an
 * unverified account (403 "Email not verified").
 */
export type EmailVerificationMode = 'off' | 'optional' | 'required';

export type JournalMode = 'WAL' | 'DELETE' | 'TRUNCATE' | 'PERSIST';

export type DatabaseConfig =
  /**
   * In Lambda with neither DATABASE_URL nor DATABASE_SECRET_ARN (the functions without a
   * database): there is no default there, since a file in the container would be a database of
   * one container that vanishes with it. Opening it fails with one line.
   */
  | { readonly dialect: 'unset' }
  | { readonly dialect: 'sqlite'; readonly path: string; readonly journalMode: JournalMode }
  | {
      readonly dialect: 'postgres';
      /**
       * `postgres://user:password@host:port/db?sslmode=...`. Undefined when the secret alone
       * says where the server is (Aurora in AWS, `-c database=aurora`).
       */
      readonly url: string | undefined;
      /**
       * Secrets Manager secret in the RDS-generated JSON (`username`, `password`, `host`, `port`,
       * `dbname`), read once per container; its fields win over the URL's.
       */
      readonly secretArn: string | undefined;
      /**
       * TLS to a server found through the secret: `verify` (default; the certificate must chain to
       * a trusted CA, in Lambda the RDS CAs through NODE_EXTRA_CA_CERTS) or `off`. Undefined
       * without a secret: the URL's `sslmode` decides.
       */
      readonly tls: 'verify' | 'off' | undefined;
      /** Connections per process: 1 in Lambda (one request at a time), 10 locally. */
      readonly poolMax: number;
    };

/**
 * `off`: never asked for; `auto`: required only past the per-account failure limit;
 * `always`: register and login need a valid solution.
 */
export type CaptchaMode = 'off' | 'auto' | 'always';

/**
 * A 32-byte key written as 64 hex digits or as base64 (padded or not, standard or URL-safe);
 * undefined for anything else. Used for `MFA_ENCRYPTION_KEY` and the secret behind its ARN.
 */
export function decodeKey32(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/** Lambda's synchronous invocation payload limit, measured on the serialized event/result. */
export const LAMBDA_MAX_PAYLOAD_BYTES = 6_291_456;

/**
 * A file travels base64 encoded inside the event (4/3 growth), so no file above this can ever
 * reach a handler.
 */
export const LAMBDA_FILE_CEILING_BYTES = Math.floor((LAMBDA_MAX_PAYLOAD_BYTES * 3) / 4);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const int = (min: number, max: number) =>
  z.pipe(
    z.pipe(z.string().check(z.trim(), z.regex(/^\d+$/, 'must be a whole number')), z.transform(Number)),
    z.number().check(z.int(), z.minimum(min), z.maximum(max)),
  );

const url = z.pipe(
  z.string().check(
    z.trim(),
    z.refine((value: string) => /^https?:\/\/[^/]+/.test(value) && URL.canParse(value), 'must be an http(s) URL'),
  ),
  z.transform((value: string) => value.replace(/\/+$/, '')),
);

const nonEmpty = z.string().check(z.trim(), z.minLength(1));

const envSchema = z.object({
  NODE_ENV: z.optional(z.string()),
  AWS_LAMBDA_FUNCTION_NAME: z.optional(z.string()),
  DATA_DIR: z._default(nonEmpty, './.data'),
  DATABASE_URL: z.optional(
    z.string().check(
      z.trim(),
      z.regex(/^(sqlite:\/\/\/.+|postgres(ql)?:\/\/.+)/, 'must look like sqlite:///path/to/file.db or postgres://user:password@host:5432/db'),
      z.refine((value: string) => value.startsWith('sqlite:') || URL.canParse(value), 'is not a valid postgres:// URL'),
    ),
  ),
  DATABASE_SECRET_ARN: z.optional(z.string().check(z.trim(), z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
  DATABASE_POOL_MAX: z.optional(int(1, 100)),
  DATABASE_TLS: z.optional(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['verify', 'off']))),
  SQLITE_JOURNAL_MODE: z.optional(
    z.pipe(z.string().check(z.trim(), z.toUpperCase()), z.enum(['WAL', 'DELETE', 'TRUNCATE', 'PERSIST'])),
  ),
  JWT_SECRET: z.optional(
    z.string().check(
      z.refine((value: string) => Buffer.byteLength(value) >= 32, 'must be at least 32 bytes (try: openssl rand -hex 32)'),
    ),
  ),
  JWT_PREVIOUS_SECRET: z.optional(
    z.string().check(z.refine((value: string) => Buffer.byteLength(value) >= 32, 'must be at least 32 bytes')),
  ),
  JWT_SECRET_ARN: z.optional(z.string().check(z.trim(), z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
  JWT_ISSUER: z._default(nonEmpty, 'secure-upload-api'),
  JWT_AUDIENCE: z._default(nonEmpty, 'secure-upload-api'),
  ACCESS_TOKEN_EXPIRE_SECONDS: z._default(int(30, 86_400), 900),
  REFRESH_TOKEN_EXPIRE_SECONDS: z._default(int(60, 31_536_000), 2_592_000),
  REFRESH_REUSE_GRACE_SECONDS: z._default(int(0, 300), 0),
  // bcryptjs accepts 4-31; above 15 a single login takes many seconds, a self-inflicted DoS.
  BCRYPT_ROUNDS: z._default(int(4, 15), 12),
  S3_BUCKET: z._default(
    z.string().check(z.trim(), z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')),
    'uploads',
  ),
  S3_ENDPOINT: z.optional(url),
  S3_PUBLIC_ENDPOINT: z.optional(url),
  S3_REGION: z._default(nonEmpty, 'us-east-1'),
  S3_ACCESS_KEY_ID: z.optional(nonEmpty),
  S3_SECRET_ACCESS_KEY: z.optional(nonEmpty),
  // SigV4 presigned URLs live at most 7 days.
  PRESIGNED_URL_EXPIRE_SECONDS: z._default(int(1, 604_800), 3600),
  MAX_UPLOAD_BYTES: z._default(int(1, LAMBDA_FILE_CEILING_BYTES), 4_194_304),
  // S3 parts are at least 5 MiB; a single PUT carries at most 5 GiB.
  MULTIPART_THRESHOLD_BYTES: z._default(int(5 * 1024 ** 2, 5 * 1024 ** 3), 100 * 1024 ** 2),
  ALLOWED_CONTENT_TYPES: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^\s*[\w.+-]+\/(\*|[\w.+-]+)\s*(,\s*[\w.+-]+\/(\*|[\w.+-]+)\s*)*$/,
          'must be a comma-separated list like image/png,image/*,application/pdf',
        ),
      ),
  ),
  CORS_ORIGINS: z.optional(z.string()),
  USER_QUOTA_BYTES: z._default(int(0, Number.MAX_SAFE_INTEGER), 10_737_418_240),
  SCANNER: z._default(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['none', 'clamd', 'guardduty'])), 'none'),
  CLAMD_HOST: z._default(
    z.string().check(z.trim(), z.regex(/^[A-Za-z0-9._:-]+$/, 'must be a host name or IP address (no scheme, no port)')),
    '127.0.0.1',
  ),
  CLAMD_PORT: z._default(int(1, 65_535), 3310),
  // The whole scan, connect to verdict. Below the S3 functions' 20 s timeout, so a stuck clamd
  // answers 503 "Scanner unavailable" instead of the function being killed mid-request.
  CLAMD_TIMEOUT_MS: z._default(int(100, 900_000), 10_000),
  // clamd's own default StreamMaxLength (100M); keep the two equal.
  SCAN_MAX_BYTES: z._default(int(1, 5 * 1024 ** 4), 100 * 1024 ** 2),
  APP_URL: z.optional(url),
  MAIL_TRANSPORT: z.optional(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['outbox', 'smtp', 'ses', 'off']))),
  MAIL_FROM: z.optional(
    z.string().check(z.trim(), z.regex(/^[^\r\n]*<?[^\s@<>]+@[^\s@<>]+>?$/, 'must be an address like Name <no-reply@example.com>')),
  ),
  SMTP_URL: z.optional(
    z.string().check(z.trim(), z.refine((value: string) => /^smtps?:\/\/[^/]+/.test(value) && URL.canParse(value), 'must be an smtp:// or smtps:// URL')),
  ),
  MAIL_QUEUE_URL: z.optional(
    z.string().check(z.trim(), z.regex(/^https:\/\/[\w.-]+(:\d+)?\/\d{12}\/[\w-]{1,80}$|^http:\/\/127\.0\.0\.1:\d+\/\d{12}\/[\w-]{1,80}$/, 'must be an SQS queue URL')),
  ),
  EMAIL_VERIFICATION: z._default(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['off', 'optional', 'required'])), 'optional'),
  PASSWORD_RESET_EXPIRE_SECONDS: z._default(int(60, 86_400), 1800),
  LOGIN_MAX_FAILURES: z._default(int(1, 1000), 5),
  LOGIN_WINDOW_SECONDS: z._default(int(60, 86_400), 900),
  IP_MAX_FAILURES: z._default(int(1, 1_000_000), 50),
  REGISTER_MAX_PER_IP: z._default(int(1, 1_000_000), 20),
  CAPTCHA: z._default(z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['off', 'auto', 'always'])), 'auto'),
  AUDIT_RETENTION_DAYS: z._default(int(1, 36_500), 365),
  MFA_ENCRYPTION_KEY: z.optional(
    z.string().check(
      z.trim(),
      z.refine((value: string) => decodeKey32(value) !== undefined, 'must be 32 bytes as 64 hex digits or base64 (try: openssl rand -hex 32)'),
    ),
  ),
  MFA_ENCRYPTION_KEY_ARN: z.optional(z.string().check(z.trim(), z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
  MFA_ISSUER: z._default(z.string().check(z.trim(), z.minLength(1), z.maxLength(64), z.regex(/^[^:]+$/, 'must not contain a colon')), 'Secure Upload API'),
  HOST: z._default(nonEmpty, '127.0.0.1'),
  PORT: z._default(int(0, 65_535), 8000),
  S3_PORT: z._default(int(0, 65_535), 9000),
});

/** Every environment variable the configuration reads (docker-compose and infra are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Treats `VAR=` (empty) like an unset variable, as most tools and .env files mean it. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') out[key] = value;
  return out;
}

/** Builds and validates the configuration; throws a one-line {@link ConfigError}. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${issue?.message ?? 'is invalid'}`);
  }
  const e = parsed.data;
  const inLambda = e.AWS_LAMBDA_FUNCTION_NAME !== undefined;
  const production = inLambda || e.NODE_ENV === 'production';

  if (!e.JWT_SECRET && !e.JWT_SECRET_ARN) {
    throw new ConfigError(
      production
        ? 'Invalid configuration: JWT_SECRET_ARN (or JWT_SECRET) is required in production; there is no fallback secret'
        : 'Invalid configuration: JWT_SECRET is required (at least 32 bytes; npm start generates one for you)',
    );
  }
  if (e.JWT_PREVIOUS_SECRET && !e.JWT_SECRET) {
    throw new ConfigError(
      "Invalid configuration: JWT_PREVIOUS_SECRET goes with JWT_SECRET (with JWT_SECRET_ARN the secret's AWSPREVIOUS version plays its part)",
    );
  }
  if (e.MFA_ENCRYPTION_KEY && e.JWT_SECRET && e.MFA_ENCRYPTION_KEY === e.JWT_SECRET.trim()) {
    throw new ConfigError('Invalid configuration: MFA_ENCRYPTION_KEY must be its own key, not JWT_SECRET (rotating the JWT secret must not lock anyone out of MFA)');
  }
  const mailTransport = e.MAIL_TRANSPORT ?? (production ? 'off' : 'outbox');
  if (mailTransport === 'smtp' && !e.SMTP_URL) {
    throw new ConfigError('Invalid configuration: SMTP_URL is required with MAIL_TRANSPORT=smtp (e.g. smtp://127.0.0.1:1025)');
  }
  if (mailTransport === 'ses' && (!e.MAIL_FROM || !e.MAIL_QUEUE_URL)) {
    throw new ConfigError('Invalid configuration: MAIL_TRANSPORT=ses needs MAIL_FROM (an address SES has verified) and MAIL_QUEUE_URL (what the CDK stack sets)');
  }
  if (e.MAIL_QUEUE_URL && mailTransport !== 'ses') {
    throw new ConfigError('Invalid configuration: MAIL_QUEUE_URL is only used with MAIL_TRANSPORT=ses');
  }
  if (inLambda && (mailTransport === 'outbox' || mailTransport === 'smtp')) {
    throw new ConfigError(`Invalid configuration: MAIL_TRANSPORT=${mailTransport} does not work in Lambda (no mail folder, no route out of the VPC); use ses (-c mailFrom=) or off`);
  }
  if (e.SCANNER === 'guardduty' && !inLambda) {
    // GuardDuty scans the AWS bucket and answers through EventBridge: nothing would ever record
    // a verdict here, so every file would stay pending (never servable). Say so at start-up.
    throw new ConfigError('Invalid configuration: SCANNER=guardduty works only in AWS Lambda (cdk deploy -c scanner=guardduty); locally use SCANNER=clamd or none');
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError('Invalid configuration: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together');
  }

  const dataDir = path.resolve(e.DATA_DIR);
  const databaseUrl = e.DATABASE_URL ?? '';
  // PostgreSQL: a postgres:// URL, or (Aurora in AWS) only the secret, whose RDS-generated JSON
  // names the host, port and database as well as the credentials.
  const postgres = /^postgres(ql)?:/.test(databaseUrl) || (e.DATABASE_URL === undefined && e.DATABASE_SECRET_ARN !== undefined);
  if (e.DATABASE_SECRET_ARN && !postgres) throw new ConfigError('Invalid configuration: DATABASE_SECRET_ARN is only used with PostgreSQL (a postgres:// DATABASE_URL, or none)');
  if (e.SQLITE_JOURNAL_MODE && postgres) throw new ConfigError('Invalid configuration: SQLITE_JOURNAL_MODE is only used with a sqlite:/// DATABASE_URL');
  if (e.DATABASE_TLS && !e.DATABASE_SECRET_ARN) throw new ConfigError('Invalid configuration: DATABASE_TLS goes with DATABASE_SECRET_ARN; with a DATABASE_URL alone, put sslmode=verify-full in the URL');
  const database: DatabaseConfig = inLambda && e.DATABASE_URL === undefined && e.DATABASE_SECRET_ARN === undefined
    ? { dialect: 'unset' }
    : postgres
    ? {
        dialect: 'postgres',
        url: databaseUrl || undefined,
        secretArn: e.DATABASE_SECRET_ARN,
        tls: e.DATABASE_SECRET_ARN ? (e.DATABASE_TLS ?? 'verify') : undefined,
        poolMax: e.DATABASE_POOL_MAX ?? (inLambda ? 1 : 10),
      }
    : {
        dialect: 'sqlite',
        path: databaseUrl ? databasePathFromUrl(databaseUrl) : path.join(dataDir, 'dev.db'),
        journalMode: e.SQLITE_JOURNAL_MODE ?? (inLambda ? 'DELETE' : 'WAL'),
      };

  const config: Config = {
    production,
    inLambda,
    database,
    jwt: {
      secret: e.JWT_SECRET,
      previousSecret: e.JWT_PREVIOUS_SECRET,
      secretArn: e.JWT_SECRET_ARN,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTtlSeconds: e.ACCESS_TOKEN_EXPIRE_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_EXPIRE_SECONDS,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
    },
    bcryptRounds: e.BCRYPT_ROUNDS,
    s3: {
      bucket: e.S3_BUCKET,
      endpoint: e.S3_ENDPOINT,
      publicEndpoint: e.S3_PUBLIC_ENDPOINT ?? e.S3_ENDPOINT,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
    },
    presignedUrlExpireSeconds: e.PRESIGNED_URL_EXPIRE_SECONDS,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    multipartThresholdBytes: e.MULTIPART_THRESHOLD_BYTES,
    allowedContentTypes: (e.ALLOWED_CONTENT_TYPES ?? '')
      .split(',')
      .map((type) => type.trim().toLowerCase())
      .filter(Boolean),
    corsOrigins: (e.CORS_ORIGINS ?? (production ? '' : '*'))
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    userQuotaBytes: e.USER_QUOTA_BYTES,
    scanner: {
      backend: e.SCANNER,
      clamd: { host: e.CLAMD_HOST, port: e.CLAMD_PORT, timeoutMs: e.CLAMD_TIMEOUT_MS },
      maxBytes: e.SCAN_MAX_BYTES,
    },
    appUrl: e.APP_URL ?? (production ? undefined : `http://${hostForUrl(e.HOST)}:${e.PORT}`),
    mail: {
      transport: mailTransport,
      from: e.MAIL_FROM ?? 'Secure Upload API <no-reply@localhost>',
      smtpUrl: e.SMTP_URL,
      queueUrl: e.MAIL_QUEUE_URL,
    },
    emailVerification: mailTransport === 'off' && !inLambda ? 'off' : e.EMAIL_VERIFICATION,
    passwordResetTtlSeconds: e.PASSWORD_RESET_EXPIRE_SECONDS,
    abuse: {
      loginMaxFailures: e.LOGIN_MAX_FAILURES,
      windowSeconds: e.LOGIN_WINDOW_SECONDS,
      ipMaxFailures: e.IP_MAX_FAILURES,
      registerMaxPerIp: e.REGISTER_MAX_PER_IP,
      captcha: e.CAPTCHA,
    },
    mfa: { encryptionKey: e.MFA_ENCRYPTION_KEY, encryptionKeyArn: e.MFA_ENCRYPTION_KEY_ARN, issuer: e.MFA_ISSUER },
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    local: { host: e.HOST, port: e.PORT, s3Port: e.S3_PORT, dataDir },
  };
  return deepFreeze(config);
}

/**
 * `sqlite:///relative/path.db` (SQLAlchemy's form, as in the seed) or
 * `sqlite:////absolute/path.db`; `sqlite:///:memory:` is allowed for experiments.
 */
export function databasePathFromUrl(databaseUrl: string): string {
  const rest = databaseUrl.slice('sqlite:///'.length);
  return rest === ':memory:' ? rest : path.resolve(rest);
}

/** The local API's host as it goes in a URL: wildcard binds become loopback, IPv6 gets brackets. */
function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}

let current: Config | undefined;

/** The configuration of this container, built on first use. */
export function getConfig(): Config {
  current ??= loadConfig();
  return current;
}

/** Forgets the cached configuration (tests, and the local runtime after it fills in defaults). */
export function resetConfig(): void {
  current = undefined;
}

// In Lambda, validate during the cold start of every function that reads configuration: a bad
// variable fails the init with one line naming it, instead of surfacing as a 500 on the first
// request. Functions that never read it (health, docs) do not bundle this module at all.
if (process.env.AWS_LAMBDA_FUNCTION_NAME) getConfig();
