import path from 'node:path';
import { ConfigError, LAMBDA_FILE_CEILING_BYTES, loadConfig, resetConfig } from '../../lib/config';
import { closeDb, getDb } from '../../lib/db/connection';

const secret = 'x'.repeat(32);

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const config = loadConfig({ JWT_SECRET: secret });
    expect(config).toMatchObject({
      production: false,
      database: { dialect: 'sqlite', journalMode: 'WAL', path: path.resolve('.data/dev.db') },
      bcryptRounds: 12,
      presignedUrlExpireSeconds: 3600,
      maxUploadBytes: 4_194_304,
      userQuotaBytes: 10_737_418_240,
      corsOrigins: ['*'],
      jwt: { issuer: 'secure-upload-api', audience: 'secure-upload-api', accessTtlSeconds: 900, refreshTtlSeconds: 2_592_000, refreshReuseGraceSeconds: 0 },
      s3: { bucket: 'uploads', region: 'us-east-1', endpoint: undefined },
      local: { port: 8000, s3Port: 9000, host: '127.0.0.1' },
      abuse: { loginMaxFailures: 5, windowSeconds: 900, ipMaxFailures: 50, registerMaxPerIp: 20, captcha: 'auto' },
      auditRetentionDays: 365,
    });
    expect(Object.isFrozen(config.jwt)).toBe(true);
    expect(config.jwt.previousSecret).toBeUndefined();
    expect(loadConfig({ JWT_SECRET: secret, JWT_PREVIOUS_SECRET: 'y'.repeat(32) }).jwt.previousSecret).toBe('y'.repeat(32));
  });

  it('switches to the NFS-safe journal and no wildcard CORS inside Lambda', () => {
    const config = loadConfig({ JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x', AWS_LAMBDA_FUNCTION_NAME: 'f' });
    expect([config.production, config.database, config.corsOrigins]).toEqual([true, { dialect: 'unset' }, []]);
    const onEfs = loadConfig({ JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x', AWS_LAMBDA_FUNCTION_NAME: 'f', DATABASE_URL: 'sqlite:////mnt/db/app.db' });
    expect(onEfs.database).toEqual({ dialect: 'sqlite', path: '/mnt/db/app.db', journalMode: 'DELETE' });
  });

  it('in Lambda, names the database by DATABASE_URL or DATABASE_SECRET_ARN: no default file in a container', async () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:x';
    expect(loadConfig({ JWT_SECRET_ARN: arn, AWS_LAMBDA_FUNCTION_NAME: 'f' }).database).toEqual({ dialect: 'unset' });
    expect(loadConfig({ JWT_SECRET_ARN: arn, AWS_LAMBDA_FUNCTION_NAME: 'f', DATABASE_SECRET_ARN: arn }).database).toMatchObject({ dialect: 'postgres' });
    // Locally the default stays a file in DATA_DIR.
    expect(loadConfig({ JWT_SECRET: secret }).database).toMatchObject({ dialect: 'sqlite', path: path.resolve('.data/dev.db') });
    const saved = { ...process.env };
    try {
      for (const name of ['DATABASE_URL', 'DATABASE_SECRET_ARN', 'SQLITE_JOURNAL_MODE', 'JWT_SECRET']) delete process.env[name];
      Object.assign(process.env, { AWS_LAMBDA_FUNCTION_NAME: 'f', JWT_SECRET_ARN: arn });
      resetConfig();
      await closeDb();
      expect(() => getDb()).toThrow('Invalid configuration: this Lambda function has no database (DATABASE_URL or DATABASE_SECRET_ARN names one)');
    } finally {
      process.env = saved;
      resetConfig();
    }
  });

  it('reads the seed-style DATABASE_URL, relative and absolute', () => {
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_URL: 'sqlite:///./dev.db' }).database).toMatchObject({ dialect: 'sqlite', path: path.resolve('dev.db') });
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_URL: 'sqlite:////mnt/db/app.db' }).database).toMatchObject({ path: '/mnt/db/app.db' });
  });

  it('selects PostgreSQL by DATABASE_URL, one connection per Lambda container, credentials from a secret', () => {
    const url = 'postgres://app:pw@db.internal:5432/uploads';
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_URL: url }).database).toEqual({ dialect: 'postgres', url, secretArn: undefined, tls: undefined, poolMax: 10 });
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_URL: 'postgresql://h/db', DATABASE_POOL_MAX: '3' }).database).toMatchObject({ poolMax: 3 });
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:db';
    const lambda = loadConfig({ JWT_SECRET_ARN: arn, AWS_LAMBDA_FUNCTION_NAME: 'f', DATABASE_URL: 'postgres://h:5432/db', DATABASE_SECRET_ARN: arn });
    expect(lambda.database).toEqual({ dialect: 'postgres', url: 'postgres://h:5432/db', secretArn: arn, tls: 'verify', poolMax: 1 });
  });

  it('selects PostgreSQL by DATABASE_SECRET_ARN alone (Aurora: the secret names host, port and database), TLS verified unless turned off', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:db';
    const aurora = loadConfig({ JWT_SECRET_ARN: arn, AWS_LAMBDA_FUNCTION_NAME: 'f', DATABASE_SECRET_ARN: arn });
    expect(aurora.database).toEqual({ dialect: 'postgres', url: undefined, secretArn: arn, tls: 'verify', poolMax: 1 });
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_SECRET_ARN: arn, DATABASE_TLS: 'OFF' }).database).toMatchObject({ tls: 'off', poolMax: 10 });
  });

  it.each([
    [{ DATABASE_URL: 'mysql://h/db' }, /DATABASE_URL/],
    [{ DATABASE_URL: 'postgres://[bad' }, /DATABASE_URL/],
    [{ DATABASE_URL: 'sqlite:///x.db', DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:db' }, /DATABASE_SECRET_ARN is only used with PostgreSQL/],
    [{ DATABASE_SECRET_ARN: 'db-secret' }, /DATABASE_SECRET_ARN must be a Secrets Manager ARN/],
    [{ DATABASE_URL: 'postgres://h/db', DATABASE_TLS: 'off' }, /DATABASE_TLS goes with DATABASE_SECRET_ARN/],
    [{ DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:db', DATABASE_TLS: 'maybe' }, /DATABASE_TLS/],
    [{ DATABASE_URL: 'postgres://h/db', SQLITE_JOURNAL_MODE: 'WAL' }, /SQLITE_JOURNAL_MODE is only used/],
  ])('refuses database settings that cannot work: %j', (env, message) => {
    expect(() => loadConfig({ JWT_SECRET: secret, ...env })).toThrow(message);
  });

  it('uses S3_ENDPOINT for presigning unless S3_PUBLIC_ENDPOINT says otherwise', () => {
    const internal = loadConfig({ JWT_SECRET: secret, S3_ENDPOINT: 'http://minio:9000/' });
    expect([internal.s3.endpoint, internal.s3.publicEndpoint]).toEqual(['http://minio:9000', 'http://minio:9000']);
    const split = loadConfig({ JWT_SECRET: secret, S3_ENDPOINT: 'http://minio:9000', S3_PUBLIC_ENDPOINT: 'http://localhost:9000' });
    expect(split.s3.publicEndpoint).toBe('http://localhost:9000');
  });

  it.each<[string, NodeJS.ProcessEnv, RegExp]>([
    ['no secret at all', {}, /^Invalid configuration: JWT_SECRET is required/],
    ['no fallback in production', { NODE_ENV: 'production' }, /JWT_SECRET_ARN \(or JWT_SECRET\) is required in production/],
    ['a short secret', { JWT_SECRET: 'short' }, /^Invalid configuration: JWT_SECRET must be at least 32 bytes/],
    ['a word for a number', { JWT_SECRET: secret, BCRYPT_ROUNDS: 'twelve' }, /^Invalid configuration: BCRYPT_ROUNDS must be a whole number/],
    ['a dangerous cost', { JWT_SECRET: secret, BCRYPT_ROUNDS: '20' }, /BCRYPT_ROUNDS/],
    // zod/mini has no messages of its own ("Invalid input"): lib/zod.ts must register English.
    ['a port out of range', { JWT_SECRET: secret, PORT: '70000' }, /^Invalid configuration: PORT Too big: expected number to be <=65535$/],
    ['an unknown journal mode', { JWT_SECRET: secret, SQLITE_JOURNAL_MODE: 'fast' }, /SQLITE_JOURNAL_MODE/],
    ['an unknown database', { JWT_SECRET: secret, DATABASE_URL: 'mysql://x' }, /DATABASE_URL must look like sqlite:\/\/\/path\/to\/file.db or postgres:/],
    ['an endpoint that is not a URL', { JWT_SECRET: secret, S3_ENDPOINT: 'minio:9000' }, /S3_ENDPOINT must be an http\(s\) URL/],
    ['an upload limit Lambda cannot carry', { JWT_SECRET: secret, MAX_UPLOAD_BYTES: String(LAMBDA_FILE_CEILING_BYTES + 1) }, /MAX_UPLOAD_BYTES/],
    ['an unknown CAPTCHA mode', { JWT_SECRET: secret, CAPTCHA: 'sometimes' }, /^Invalid configuration: CAPTCHA /],
    ['a zero failure limit', { JWT_SECRET: secret, LOGIN_MAX_FAILURES: '0' }, /^Invalid configuration: LOGIN_MAX_FAILURES /],
    ['a window under a minute', { JWT_SECRET: secret, LOGIN_WINDOW_SECONDS: '5' }, /^Invalid configuration: LOGIN_WINDOW_SECONDS /],
    ['a word for the retention', { JWT_SECRET: secret, AUDIT_RETENTION_DAYS: 'forever' }, /^Invalid configuration: AUDIT_RETENTION_DAYS must be a whole number/],
    ['half the S3 credentials', { JWT_SECRET: secret, S3_ACCESS_KEY_ID: 'a' }, /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/],
    ['a short previous secret', { JWT_SECRET: secret, JWT_PREVIOUS_SECRET: 'short' }, /^Invalid configuration: JWT_PREVIOUS_SECRET must be at least 32 bytes$/],
    [
      'a previous secret without a current one',
      { JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x', JWT_PREVIOUS_SECRET: secret },
      /^Invalid configuration: JWT_PREVIOUS_SECRET goes with JWT_SECRET/,
    ],
  ])('fails with one line for %s', (_name, env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('reads the abuse protection settings, CAPTCHA in any case', () => {
    const config = loadConfig({ JWT_SECRET: secret, CAPTCHA: ' Always ', LOGIN_MAX_FAILURES: '3', IP_MAX_FAILURES: '7', REGISTER_MAX_PER_IP: '2', LOGIN_WINDOW_SECONDS: '60', AUDIT_RETENTION_DAYS: '30' });
    expect([config.abuse, config.auditRetentionDays]).toEqual([{ loginMaxFailures: 3, windowSeconds: 60, ipMaxFailures: 7, registerMaxPerIp: 2, captcha: 'always' }, 30]);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ JWT_SECRET: secret, PORT: '', S3_ENDPOINT: '' }).local.port).toBe(8000);
  });
});

describe('MFA_ENCRYPTION_KEY', () => {
  const hex = 'ab'.repeat(32);

  it('takes 32 bytes as hex or base64 (standard or URL-safe), and an ARN instead in AWS', () => {
    expect(loadConfig({ JWT_SECRET: secret }).mfa).toEqual({ encryptionKey: undefined, encryptionKeyArn: undefined, issuer: 'Secure Upload API' });
    expect(loadConfig({ JWT_SECRET: secret, MFA_ENCRYPTION_KEY: hex }).mfa.encryptionKey).toBe(hex);
    const base64 = Buffer.alloc(32, 0xfb).toString('base64');
    expect(loadConfig({ JWT_SECRET: secret, MFA_ENCRYPTION_KEY: base64 }).mfa.encryptionKey).toBe(base64);
    expect(loadConfig({ JWT_SECRET: secret, MFA_ENCRYPTION_KEY: Buffer.alloc(32, 0xfb).toString('base64url') }).mfa.encryptionKey).toBeDefined();
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:mfa';
    expect(loadConfig({ JWT_SECRET: secret, MFA_ENCRYPTION_KEY_ARN: arn }).mfa.encryptionKeyArn).toBe(arn);
    expect(loadConfig({ JWT_SECRET: secret, MFA_ISSUER: 'Acme Files' }).mfa.issuer).toBe('Acme Files');
  });

  it.each([
    ['31 bytes of hex', 'ab'.repeat(31)],
    ['33 bytes of hex', 'ab'.repeat(33)],
    ['16 bytes of base64', Buffer.alloc(16).toString('base64')],
    ['a passphrase', 'correct horse battery staple and more words'],
  ])('refuses %s with one line naming the variable', (_name, value) => {
    expect(() => loadConfig({ JWT_SECRET: secret, MFA_ENCRYPTION_KEY: value })).toThrow(
      new ConfigError('Invalid configuration: MFA_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64 (try: openssl rand -hex 32)'),
    );
  });

  it('refuses the JWT secret as the MFA key', () => {
    expect(() => loadConfig({ JWT_SECRET: hex, MFA_ENCRYPTION_KEY: hex })).toThrow(/MFA_ENCRYPTION_KEY must be its own key, not JWT_SECRET/);
  });

  it('refuses an issuer with a colon (it separates issuer and account in the otpauth label)', () => {
    expect(() => loadConfig({ JWT_SECRET: secret, MFA_ISSUER: 'a:b' })).toThrow(/MFA_ISSUER must not contain a colon/);
  });
});
