/**
 * A real ClamAV daemon for the tests: Debian's `clamav-daemon` package, started per suite on a
 * free loopback port with its own configuration and a signature database made here (ClamAV's
 * own databases cannot be downloaded on these machines, and the tests need only EICAR).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const CANDIDATES = ['/usr/sbin/clamd', '/usr/local/sbin/clamd', '/usr/bin/clamd'];

/** The clamd binary, or undefined when ClamAV is not installed. */
export const CLAMD_BINARY: string | undefined = CANDIDATES.find((file) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

/**
 * `describe` when clamd is installed; otherwise the suite is skipped with one line that says
 * how to get it. Never skipped in CI (`CI` set): `.ci/run` installs clamd, and a missing one
 * fails the suite there instead of passing it silently.
 */
export const describeWithClamd: jest.Describe =
  CLAMD_BINARY || process.env.CI
    ? describe
    : (() => {
        process.stderr.write('clamd not found (/usr/sbin/clamd): skipping the ClamAV suites; install it with `apt-get install clamav-daemon`\n');
        return describe.skip;
      })();

/**
 * The EICAR anti-virus test file (68 bytes), put together at run time so that no file in the
 * repository is itself flagged by a scanner.
 */
export const EICAR = Buffer.from(['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS', '-TEST-FILE!$H+H*'].join(''), 'latin1');

/**
 * The one signature of the test database: EICAR's bytes anywhere in a file (an .ndb body
 * signature), so it is found alone and at the end of a large stream alike, which proves that
 * every byte reached clamd. (A whole-file MD5 signature in an .hdb would also match the bare
 * file, but clamd reports the body match first, so it would never be seen.)
 */
export const EICAR_SIGNATURE = 'Eicar-Test-Signature';
/** What clamd reports for a signature from an unsigned database: its name plus `.UNOFFICIAL`. */
export const EICAR_REPORTED = `${EICAR_SIGNATURE}.UNOFFICIAL`;

export interface TestClamd {
  readonly host: string;
  readonly port: number;
  /** clamd's `StreamMaxLength`: a longer INSTREAM is refused. */
  readonly streamMaxLength: number;
  stop(): Promise<void>;
}

export interface TestClamdOptions {
  /** Bytes; default 40 MiB. */
  readonly streamMaxLength?: number;
}

/** A loopback port that was free a moment ago (clamd binds it itself; a lost race is retried). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends one z-command and reads the NUL-terminated reply, or undefined if clamd is not there yet. */
export function clamdCommand(port: number, command: string, host = '127.0.0.1'): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('connect', () => socket.write(`z${command}\0`));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      if (reply.includes('\0')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(reply.includes('\0') ? reply.slice(0, reply.indexOf('\0')) : undefined));
  });
}

function writeDatabase(directory: string): void {
  // .ndb: name:target type (0 = any file):offset (* = anywhere):body in hex.
  fs.writeFileSync(path.join(directory, 'test.ndb'), `${EICAR_SIGNATURE}:0:*:${EICAR.toString('hex')}\n`);
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts clamd in the foreground on a free loopback port with a temp configuration and the
 * EICAR test database, and resolves once it answers PING with PONG. `stop()` ends it and
 * removes its folder.
 */
export async function startClamd(options: TestClamdOptions = {}): Promise<TestClamd> {
  if (!CLAMD_BINARY) throw new Error('clamd is not installed: apt-get install clamav-daemon');
  const streamMaxLength = options.streamMaxLength ?? 40 * 1024 * 1024;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-clamd-'));
  const database = path.join(directory, 'db');
  const temp = path.join(directory, 'tmp');
  fs.mkdirSync(database);
  fs.mkdirSync(temp);
  writeDatabase(database);
  const log = path.join(directory, 'clamd.log');

  let lastError = '';
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freePort();
    const config = path.join(directory, 'clamd.conf');
    fs.writeFileSync(
      config,
      [
        'Foreground yes',
        `TCPSocket ${port}`,
        'TCPAddr 127.0.0.1',
        `DatabaseDirectory ${database}`,
        `TemporaryDirectory ${temp}`,
        `LogFile ${log}`,
        `StreamMaxLength ${streamMaxLength}`,
        'MaxThreads 4',
        // Nothing to reload: the database is written once, before start.
        'SelfCheck 0',
        'ConcurrentDatabaseReload no',
        '',
      ].join('\n'),
    );
    const child = spawn(CLAMD_BINARY, ['--config-file', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));

    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if ((await clamdCommand(port, 'PING')) === 'PONG') {
        return {
          host: '127.0.0.1',
          port,
          streamMaxLength,
          stop: async () => {
            child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited(child);
            clearTimeout(killer);
            fs.rmSync(directory, { recursive: true, force: true });
          },
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGKILL');
    await exited(child);
    const logTail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-5).join(' | ') : '';
    lastError = `clamd did not answer PING on port ${port} (attempt ${attempt}): ${stderr.trim()} ${logTail}`.trim();
  }
  fs.rmSync(directory, { recursive: true, force: true });
  throw new Error(lastError);
}
