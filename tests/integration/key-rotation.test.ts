/**
 * Rotating the JWT secret in AWS, through the handlers as Lambda runs them: the secret comes
 * from (a SigV4-checking stand-in for) Secrets Manager, and the key ring's clock is injected.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { handler as login } from '../../functions/auth-login';
import { handler as me } from '../../functions/auth-me';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { KEY_REFRESH_MS, keyIdOf, resetSigningKey, UNKNOWN_KID_REFRESH_MS } from '../../lib/auth/signing-key';
import { signToken } from '../../lib/auth/tokens';
import { createTestEventV2, invoke } from '../helpers/events';
import { startFakeSecretsManager, type FakeSecretsManager, type ReceivedCall } from '../helpers/fake-secrets-manager';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'ASIAROTATIONTEST', secretAccessKey: 'rotation-secret-access-key', sessionToken: 'rotation-session-token' };
const ARN = `arn:aws:secretsmanager:${REGION}:123456789012:secret:jwt-RoTaTe`;
const AWS_ENV = {
  AWS_LAMBDA_FUNCTION_NAME: 'auth',
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  JWT_SECRET_ARN: ARN,
};

let fake: FakeSecretsManager;
let now = 1_700_000_000_000;
const saved: Record<string, string | undefined> = {};
/** What Secrets Manager holds, by staging label. */
let versions: { AWSCURRENT: string; AWSPREVIOUS?: string };

beforeAll(async () => {
  fake = await startFakeSecretsManager(CREDENTIALS, REGION);
  fake.reply = (call: ReceivedCall) => {
    const value = versions[(call.body.VersionStage ?? 'AWSCURRENT') as keyof typeof versions];
    return value === undefined
      ? { status: 400, body: { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret value for staging label" } }
      : { status: 200, body: { ARN, SecretString: value } };
  };
  for (const name of [...Object.keys(AWS_ENV), 'JWT_SECRET', 'AWS_ENDPOINT_URL_SECRETS_MANAGER']) saved[name] = process.env[name];
  delete process.env.JWT_SECRET;
  Object.assign(process.env, AWS_ENV, { AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url });
  await useFreshDatabase();
  await resetRuntime();
  resetSigningKey({ now: () => now });
});
afterAll(async () => {
  await fake.close();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await resetRuntime();
});

const post = (path: string, json: unknown) => createTestEventV2({ method: 'POST', path, json });
const whoAmI = (token: string) => invoke(me, createTestEventV2({ path: '/auth/me', token }));
const kidOf = (token: string) => jwt.decode(token, { complete: true })?.header.kid;
const reads = () => fake.calls.filter((call) => call.body.VersionStage === undefined).length;
const credentials = { email: 'rotating@example.com', password: 'SecurePassword123!' };

it('AWSCURRENT -> new secret, old one -> AWSPREVIOUS: nobody is logged out, new tokens carry the new kid', async () => {
  const [oldSecret, newSecret] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
  versions = { AWSCURRENT: oldSecret };
  expect((await invoke(register, post('/auth/register', credentials))).status).toBe(201);
  const before = (await invoke(login, post('/auth/login', credentials))).body;
  expect(kidOf(before.access_token)).toBe(keyIdOf(oldSecret));
  expect(kidOf(before.refresh_token)).toBe(keyIdOf(oldSecret));
  expect(fake.calls.map((call) => call.body.VersionStage ?? 'AWSCURRENT').sort()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);

  // `aws secretsmanager put-secret-value`: the new value becomes AWSCURRENT, the old AWSPREVIOUS.
  versions = { AWSCURRENT: newSecret, AWSPREVIOUS: oldSecret };
  now += KEY_REFRESH_MS;

  expect((await whoAmI(before.access_token)).status).toBe(200);
  expect(reads()).toBe(2); // re-read after 5 minutes
  const after = await invoke(login, post('/auth/login', credentials));
  expect(kidOf(after.body.access_token)).toBe(keyIdOf(newSecret));
  expect((await whoAmI(after.body.access_token)).status).toBe(200);
  // The refresh token of the old secret still refreshes, into tokens of the new one.
  const rotated = await invoke(refresh, post('/auth/refresh', { refresh_token: before.refresh_token }));
  expect(rotated.status).toBe(200);
  expect(kidOf(rotated.body.access_token)).toBe(keyIdOf(newSecret));
  expect((await whoAmI(rotated.body.access_token)).status).toBe(200);

  // A token signed with a secret that is neither current nor previous is refused.
  const sid = (jwt.decode(after.body.access_token) as { sid: string }).sid;
  const sub = String(jwt.decode(after.body.access_token)?.sub);
  const other = 'o'.repeat(64);
  const forged = signToken({ kid: keyIdOf(other), key: createSecretKey(Buffer.from(other)) }, 'access', sub, { sid }).token;
  const lying = signToken({ kid: keyIdOf(newSecret), key: createSecretKey(Buffer.from(other)) }, 'access', sub, { sid }).token;
  for (const token of [forged, lying]) {
    const result = await whoAmI(token);
    expect([result.status, result.body.detail]).toEqual([401, 'Could not validate credentials']);
  }
});

it('a kid this container does not know makes it re-read at once, at most once a minute', async () => {
  const newest = randomBytes(32).toString('hex');
  const current = versions.AWSCURRENT;
  const session = (await invoke(login, post('/auth/login', credentials))).body;
  const { sub, sid } = jwt.decode(session.access_token) as { sub: string; sid: string };
  now += UNKNOWN_KID_REFRESH_MS; // past the re-read the forged token of the test before caused
  const readsBefore = reads();

  // Another container has already read the next rotation and signs with it.
  versions = { AWSCURRENT: newest, AWSPREVIOUS: current };
  const fromOther = signToken({ kid: keyIdOf(newest), key: createSecretKey(Buffer.from(newest)) }, 'access', sub, { sid }).token;
  expect((await whoAmI(fromOther)).status).toBe(200);
  expect(reads()).toBe(readsBefore + 1);

  // Unknown kids within the minute: 401 without another read.
  const stranger = 's'.repeat(64);
  const unknown = signToken({ kid: keyIdOf(stranger), key: createSecretKey(Buffer.from(stranger)) }, 'access', sub, { sid }).token;
  for (let i = 0; i < 3; i += 1) expect((await whoAmI(unknown)).status).toBe(401);
  expect(reads()).toBe(readsBefore + 1);
  now += UNKNOWN_KID_REFRESH_MS;
  expect((await whoAmI(unknown)).status).toBe(401);
  expect(reads()).toBe(readsBefore + 2);
  // The token of the secret now AWSPREVIOUS still works.
  expect((await whoAmI(session.access_token)).status).toBe(200);
});
