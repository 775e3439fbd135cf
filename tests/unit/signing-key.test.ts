import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  getSigningKey,
  JwtKeyRing,
  KEY_REFRESH_MS,
  keyIdOf,
  resetSigningKey,
  secretsManagerSource,
  UNKNOWN_KID_REFRESH_MS,
} from '../../lib/auth/signing-key';
import { signToken, verifyToken } from '../../lib/auth/tokens';
import { resetConfig } from '../../lib/config';
import { startFakeSecretsManager, type FakeSecretsManager, type ReceivedCall } from '../helpers/fake-secrets-manager';

// Secrets Manager cannot run here: a local HTTP stand-in that checks the SigV4 signature.
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key', sessionToken: 'fake-session-token' };
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf';
const AWS_VARIABLES = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
};

let fake: FakeSecretsManager;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  fake = await startFakeSecretsManager(CREDENTIALS, REGION);
  for (const name of [...Object.keys(AWS_VARIABLES), 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_ENDPOINT_URL', 'JWT_SECRET', 'JWT_SECRET_ARN', 'AWS_LAMBDA_FUNCTION_NAME']) {
    saved[name] = process.env[name];
  }
});
afterAll(async () => {
  await fake.close();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfig();
  resetSigningKey();
});

beforeEach(() => {
  fake.calls.length = 0;
  delete process.env.JWT_SECRET;
  delete process.env.AWS_ENDPOINT_URL;
  Object.assign(process.env, AWS_VARIABLES, { JWT_SECRET_ARN: ARN, AWS_LAMBDA_FUNCTION_NAME: 'auth-login', AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url });
  resetConfig();
  resetSigningKey();
});

const secretReply = (value: string) => () => ({ status: 200, body: { ARN, SecretString: value } });

/** Secrets Manager's answers for a secret with these versions (no AWSPREVIOUS before the first rotation). */
function stages(versions: { AWSCURRENT: string; AWSPREVIOUS?: string }) {
  return (call: ReceivedCall) => {
    const value = versions[(call.body.VersionStage ?? 'AWSCURRENT') as keyof typeof versions];
    return value === undefined
      ? { status: 400, body: { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS" } }
      : { status: 200, body: { ARN, SecretString: value, VersionStages: [call.body.VersionStage ?? 'AWSCURRENT'] } };
  };
}

/** How many times the key set was read (each read asks for AWSCURRENT and AWSPREVIOUS together). */
const reads = () => fake.calls.filter((call) => call.body.VersionStage === undefined).length;

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const ring = (now: () => number) => new JwtKeyRing(secretsManagerSource(ARN), now);
const kidOf = (token: string) => jwt.decode(token, { complete: true })?.header.kid;
const expect401 = (promise: Promise<unknown>) => expect(promise).rejects.toMatchObject({ status: 401, detail: 'Could not validate credentials' });

describe('the JWT key in AWS', () => {
  it('is read from Secrets Manager once per container (current and previous together) and works as an HS256 key', async () => {
    fake.reply = secretReply('s'.repeat(64));
    const [key, again] = await Promise.all([getSigningKey(), getSigningKey()]);
    expect(again).toBe(key);
    expect(await getSigningKey()).toBe(key);
    expect(fake.calls).toEqual([
      { target: 'secretsmanager.GetSecretValue', body: { SecretId: ARN } },
      { target: 'secretsmanager.GetSecretValue', body: { SecretId: ARN, VersionStage: 'AWSPREVIOUS' } },
    ]);
    expect(key.key.type).toBe('secret');
    expect(key.kid).toBe(keyIdOf('s'.repeat(64)));
    const { token } = signToken(key, 'access', 'user-1');
    expect(kidOf(token)).toBe(key.kid);
    expect((await verifyToken(token, 'access')).sub).toBe('user-1');
  });

  it('fails when the secret does not exist, and fetches again on the next request', async () => {
    fake.reply = () => ({ status: 400, body: { __type: 'ResourceNotFoundException', message: 'not found' } });
    await expect(getSigningKey()).rejects.toThrow(`Secrets Manager GetSecretValue for ${ARN} failed: ResourceNotFoundException (HTTP 400)`);
    expect(reads()).toBe(1);

    fake.reply = secretReply('s'.repeat(64));
    const key = await getSigningKey();
    expect(key.key.type).toBe('secret');
    expect(reads()).toBe(2);
    expect(await getSigningKey()).toBe(key);
    expect(reads()).toBe(2);
  });

  it('rides out throttling within one request', async () => {
    let throttled = false;
    fake.reply = () => {
      if (throttled) return { status: 200, body: { SecretString: 's'.repeat(64) } };
      throttled = true;
      return { status: 400, body: { __type: 'ThrottlingException' } };
    };
    await expect(getSigningKey()).resolves.toBeDefined();
    expect(fake.calls).toHaveLength(3);
  });

  it('fails when Secrets Manager keeps failing, without caching the failure', async () => {
    fake.reply = () => ({ status: 500, body: { __type: 'InternalServiceError' } });
    await expect(getSigningKey()).rejects.toThrow(/InternalServiceError \(HTTP 500\) \(after 3 attempts\)/);
    expect(fake.calls).toHaveLength(6); // both versions, three attempts each, all finished
    fake.reply = secretReply('s'.repeat(64));
    await expect(getSigningKey()).resolves.toBeDefined();
  });

  it('refuses a secret shorter than 32 bytes', async () => {
    fake.reply = secretReply('s'.repeat(31));
    await expect(getSigningKey()).rejects.toThrow(/shorter than 32 bytes/);
    fake.reply = secretReply('s'.repeat(32));
    await expect(getSigningKey()).resolves.toBeDefined();
  });

  it('is refused by Secrets Manager when signed with other credentials', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-right-key';
    await expect(getSigningKey()).rejects.toThrow(/InvalidSignatureException \(HTTP 403\)/);
  });
});

describe('key rotation in AWS', () => {
  it('AWSCURRENT -> new, old -> AWSPREVIOUS: re-read within 5 minutes, old tokens still verify, new ones carry the new kid', async () => {
    let now = 1_000_000;
    const keys = ring(() => now);
    fake.reply = stages({ AWSCURRENT: A });
    const before = signToken(await keys.signingKey(), 'refresh', 'user-1', { fam: 'f' }).token;
    expect(kidOf(before)).toBe(keyIdOf(A));

    fake.reply = stages({ AWSCURRENT: B, AWSPREVIOUS: A });
    now += KEY_REFRESH_MS - 1;
    expect((await keys.signingKey()).kid).toBe(keyIdOf(A)); // not yet re-read
    expect(reads()).toBe(1);
    now += 1;
    const signing = await keys.signingKey();
    expect(reads()).toBe(2);
    expect(signing.kid).toBe(keyIdOf(B));
    expect(kidOf(signToken(signing, 'access', 'user-1').token)).toBe(keyIdOf(B));
    expect((await verifyToken(before, 'refresh', keys)).sub).toBe('user-1');

    // A second rotation pushes A out: tokens signed with it are refused.
    fake.reply = stages({ AWSCURRENT: C, AWSPREVIOUS: B });
    now += KEY_REFRESH_MS;
    await expect401(verifyToken(before, 'refresh', keys));
  });

  it('reads again at once for an unknown kid, but at most once a minute', async () => {
    let now = 5_000_000;
    const keys = ring(() => now);
    fake.reply = stages({ AWSCURRENT: A });
    await keys.signingKey();
    expect(reads()).toBe(1);

    // Another container already signs with the rotated secret.
    fake.reply = stages({ AWSCURRENT: B, AWSPREVIOUS: A });
    const fromOther = signToken({ kid: keyIdOf(B), key: createSecretKey(Buffer.from(B)) }, 'access', 'user-2').token;
    now += 1000;
    expect((await verifyToken(fromOther, 'access', keys)).sub).toBe('user-2');
    expect(reads()).toBe(2);

    // A kid nobody has: refused, and no further read within the minute, however many arrive.
    const stranger = signToken({ kid: keyIdOf('z'.repeat(64)), key: createSecretKey(Buffer.from('z'.repeat(64))) }, 'access', 'user-3').token;
    now += 1000;
    await Promise.all(Array.from({ length: 5 }, () => expect401(verifyToken(stranger, 'access', keys))));
    now += UNKNOWN_KID_REFRESH_MS - 1001;
    await expect401(verifyToken(stranger, 'access', keys));
    expect(reads()).toBe(2);
    now += 1;
    await expect401(verifyToken(stranger, 'access', keys));
    expect(reads()).toBe(3);

    // Tokens without a kid, or with one that is not ours in form, never cause a read.
    now += UNKNOWN_KID_REFRESH_MS;
    const base = { sub: 'user-4', type: 'access', iss: 'secure-upload-api', aud: 'secure-upload-api', jti: 'j' };
    const noKid = jwt.sign(base, B, { header: { alg: 'HS256', typ: 'at+jwt' }, expiresIn: 60 });
    const oddKid = jwt.sign(base, B, { header: { alg: 'HS256', typ: 'at+jwt', kid: '../../etc/passwd' }, expiresIn: 60 });
    await expect401(verifyToken(noKid, 'access', keys));
    await expect401(verifyToken(oddKid, 'access', keys));
    expect(reads()).toBe(3);
  });

  it('keeps the keys it knows when a re-read fails, and tries again a minute later', async () => {
    let now = 9_000_000;
    const keys = ring(() => now);
    fake.reply = stages({ AWSCURRENT: A });
    const signing = await keys.signingKey();
    const token = signToken(signing, 'access', 'user-1').token;

    fake.reply = () => ({ status: 400, body: { __type: 'AccessDeniedException' } });
    now += KEY_REFRESH_MS;
    expect(await keys.signingKey()).toBe(signing);
    expect((await verifyToken(token, 'access', keys)).sub).toBe('user-1');
    expect(reads()).toBe(2);

    fake.reply = stages({ AWSCURRENT: B, AWSPREVIOUS: A });
    now += UNKNOWN_KID_REFRESH_MS - 1;
    expect((await keys.signingKey()).kid).toBe(keyIdOf(A));
    now += 1;
    expect((await keys.signingKey()).kid).toBe(keyIdOf(B));
    expect(reads()).toBe(3);
  });

  it('makes one KeyObject per secret and keeps it across re-reads', async () => {
    let now = 0;
    const keys = ring(() => now);
    fake.reply = stages({ AWSCURRENT: A });
    const first = await keys.signingKey();
    now += KEY_REFRESH_MS;
    expect(await keys.signingKey()).toEqual(first);
    expect((await keys.signingKey()).key).toBe(first.key);
    fake.reply = stages({ AWSCURRENT: B, AWSPREVIOUS: A });
    now += KEY_REFRESH_MS;
    expect(await keys.verificationKey(keyIdOf(A))).toBe(first.key);
  });
});

describe('key rotation locally', () => {
  const local = (env: Record<string, string>) => {
    delete process.env.JWT_SECRET_ARN;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    delete process.env.JWT_PREVIOUS_SECRET;
    Object.assign(process.env, env);
    resetConfig();
    resetSigningKey();
  };
  afterEach(() => {
    delete process.env.JWT_PREVIOUS_SECRET;
  });

  it('JWT_PREVIOUS_SECRET verifies tokens of the old secret; a secret that is neither is refused', async () => {
    local({ JWT_SECRET: A });
    const old = signToken(await getSigningKey(), 'access', 'user-1').token;
    local({ JWT_SECRET: B, JWT_PREVIOUS_SECRET: A });
    const signing = await getSigningKey();
    expect(signing.kid).toBe(keyIdOf(B));
    expect((await verifyToken(old, 'access')).sub).toBe('user-1');
    expect((await verifyToken(signToken(signing, 'access', 'user-2').token, 'access')).sub).toBe('user-2');
    // Neither current nor previous: refused, whatever kid it claims.
    const forged = signToken({ kid: keyIdOf(C), key: createSecretKey(Buffer.from(C)) }, 'access', 'user-1').token;
    const lying = signToken({ kid: keyIdOf(B), key: createSecretKey(Buffer.from(C)) }, 'access', 'user-1').token;
    await expect401(verifyToken(forged, 'access'));
    await expect401(verifyToken(lying, 'access'));
    // Without the previous secret the old token is refused: the rotation is over.
    local({ JWT_SECRET: B });
    await expect401(verifyToken(old, 'access'));
    expect(fake.calls).toEqual([]);
  });
});
