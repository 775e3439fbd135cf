/**
 * Every test file starts from the same known environment, before any module reads config.
 * Test files that need other settings change `process.env` and call `resetRuntime()`.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { isProductVariable } from './product-env';

for (const name of Object.keys(process.env)) {
  if (isProductVariable(name)) delete process.env[name];
}
process.env.NODE_ENV = 'test';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.JWT_SECRET = randomBytes(32).toString('hex');
process.env.MFA_ENCRYPTION_KEY = randomBytes(32).toString('hex');
// Cost 4 keeps suites fast; the benchmark measures the real cost 12.
process.env.BCRYPT_ROUNDS = '4';
process.env.DATA_DIR = path.join(os.tmpdir(), `sua-test-${process.pid}-${randomBytes(4).toString('hex')}`);
// Registration mails a verification link; suites that read mail turn a transport on themselves
// (the outbox prints on stdout, which suites reading log lines must not see).
process.env.MAIL_TRANSPORT = 'off';
