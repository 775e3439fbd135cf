/**
 * The product as the benchmark sees it: the local runtime in this process (embedded S3,
 * SQLite, the real handlers behind the API Gateway emulation) on free ports in a temp
 * directory, one registered user, and a keep-alive client.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getConfig } from '../lib/config';
import { startLocalRuntime } from '../infra/local/runtime';
import { createHttpClient, postJson, type HttpClient } from './http-client';

export interface BenchUser {
  readonly id: string;
  readonly email: string;
  readonly password: string;
  readonly accessToken: string;
}

export interface BenchContext {
  readonly apiUrl: string;
  readonly client: HttpClient;
  readonly bcryptRounds: number;
  readonly user: BenchUser;
}

export interface BenchRuntime {
  readonly context: BenchContext;
  close(): Promise<void>;
}

/** Settings that would point the runtime elsewhere than a fresh, self-contained instance. */
const EXTERNAL_SETTINGS = /^(S3_|DATABASE_URL$|SQLITE_|JWT_SECRET_ARN$|AWS_LAMBDA)/;

export async function startBenchRuntime(): Promise<BenchRuntime> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-bench-'));
  for (const name of Object.keys(process.env)) if (EXTERNAL_SETTINGS.test(name)) delete process.env[name];
  // The handlers run in this process and read process.env, so that is where settings go.
  Object.assign(process.env, {
    PORT: '0',
    S3_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('hex'),
    BCRYPT_ROUNDS: process.env.BCRYPT_ROUNDS || '12',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL || 'WARN',
    // The bench measures what a request costs, not the abuse limits: its thousands of wrong
    // logins all come from 127.0.0.1, which the per-address limit would refuse after 50.
    IP_MAX_FAILURES: '1000000',
    // No mail: registering the bench user would print its verification link mid-table.
    MAIL_TRANSPORT: 'off',
    // The SDK's Node 20 end-of-support notice would land in the middle of the progress lines.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });

  const runtime = await startLocalRuntime();
  const client = createHttpClient(runtime.apiUrl);
  const removeAll = async () => {
    client.close();
    await runtime.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
    const password = 'SecurePassword123!';
    const created = await postJson<{ id: string }>(client, '/auth/register', { email, password }, 201);
    const tokens = await postJson<{ access_token: string }>(client, '/auth/login', { email, password }, 200);
    return {
      context: {
        apiUrl: runtime.apiUrl,
        client,
        bcryptRounds: getConfig().bcryptRounds,
        user: { id: created.id, email, password, accessToken: tokens.access_token },
      },
      close: removeAll,
    };
  } catch (error) {
    await removeAll();
    throw error;
  }
}
