/**
 * The clamd backend against a real ClamAV daemon (started by the suite, see tests/helpers/clamd)
 * and against small TCP servers that misbehave in the ways a network or a wrong service can.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { HttpError } from '../../lib/http/errors';
import { createClamdScanner, type ClamdOptions } from '../../lib/scan/clamd';
import { getScanner } from '../../lib/scan/get-scanner';
import { asScanProblem } from '../../lib/scan/problems';
import { ScannerUnavailableError, ScanTooLargeError, type ScanVerdict } from '../../lib/scan/scanner';
import {
  describeWithClamd,
  EICAR,
  EICAR_REPORTED,
  startClamd,
  type TestClamd,
} from '../helpers/clamd';
import { resetRuntime } from '../helpers/runtime';

const MiB = 1024 * 1024;
const BLOCK = randomBytes(64 * 1024);

interface Generated {
  readonly stream: Readable;
  /** Bytes handed to the consumer so far. */
  produced(): number;
}

/**
 * `total` bytes made on demand, 64 KiB at a time (then `tail`), never held at once: the
 * scanner can only have read as much as it pulled.
 */
function generated(total: number, tail: Buffer = Buffer.alloc(0)): Generated {
  let produced = 0;
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (produced < total) {
        const block = BLOCK.subarray(0, Math.min(BLOCK.length, total - produced));
        produced += block.length;
        this.push(block);
      } else {
        if (tail.length) this.push(tail);
        produced += tail.length;
        this.push(null);
      }
    },
  });
  return { stream, produced: () => produced };
}

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<ScanVerdict>): Promise<Error> {
  const outcome = await promise.then(
    (verdict) => ({ verdict }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.verdict)}`);
  return outcome.error as Error;
}

describeWithClamd('clamd backend against a real clamd', () => {
  let clamd: TestClamd;
  let options: ClamdOptions;

  beforeAll(async () => {
    clamd = await startClamd({ streamMaxLength: 40 * MiB });
    options = { host: clamd.host, port: clamd.port, timeoutMs: 60_000 };
  }, 60_000);
  afterAll(() => clamd?.stop());

  it('finds EICAR and names the signature, as a Buffer and as a plain Uint8Array', async () => {
    const scanner = createClamdScanner(options);
    const infected = { status: 'infected', signature: EICAR_REPORTED };
    expect(await scanner.scan(EICAR)).toEqual(infected);
    expect(await scanner.scan(new Uint8Array(EICAR))).toEqual(infected);
  });

  it('finds EICAR sent as a stream of 7-byte chunks (empty chunks included)', async () => {
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < EICAR.length; offset += 7) chunks.push(EICAR.subarray(offset, offset + 7), Buffer.alloc(0));
    expect(await createClamdScanner(options).scan(Readable.from(chunks))).toEqual({
      status: 'infected',
      signature: EICAR_REPORTED,
    });
  });

  it('answers clean for clean bytes, empty included', async () => {
    const scanner = createClamdScanner(options);
    expect(await scanner.scan(Buffer.from('just a text file\n'))).toEqual({ status: 'clean' });
    expect(await scanner.scan(randomBytes(300 * 1024))).toEqual({ status: 'clean' });
    expect(await scanner.scan(Buffer.alloc(0))).toEqual({ status: 'clean' });
  });

  it('streams a 32 MiB object to the end and answers clean', async () => {
    const source = generated(32 * MiB);
    expect(await createClamdScanner(options).scan(source.stream)).toEqual({ status: 'clean' });
    expect(source.produced()).toBe(32 * MiB);
    expect(source.stream.destroyed).toBe(true);
  });

  it('sends every byte of a large stream: EICAR after 32 MiB is found', async () => {
    const source = generated(32 * MiB, EICAR);
    expect(await createClamdScanner(options).scan(source.stream)).toEqual({
      status: 'infected',
      signature: EICAR_REPORTED,
    });
  });

  it('refuses a stream above StreamMaxLength as too large to scan (413, no retry), and stops reading it', async () => {
    const source = generated(clamd.streamMaxLength + 8 * MiB);
    const error = await rejection(createClamdScanner(options).scan(source.stream));
    expect(error).toBeInstanceOf(ScanTooLargeError);
    expect(source.stream.destroyed).toBe(true);
    expect(source.produced()).toBeLessThan(clamd.streamMaxLength + 8 * MiB);
    const problem = asScanProblem(error);
    expect(problem).toBeInstanceOf(HttpError);
    expect(problem).toMatchObject({ status: 413, detail: 'The file is too large to scan', headers: {} });
  });

  it("passes a failing source's own error through (not a scanner outage)", async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        sent += 1;
        if (sent > 3) this.destroy(new Error('storage read failed'));
        else this.push(BLOCK);
      },
    });
    const error = await rejection(createClamdScanner(options).scan(failing));
    expect(error).not.toBeInstanceOf(ScannerUnavailableError);
    expect(error.message).toBe('storage read failed');
  });

  it('is what getScanner() gives with SCANNER=clamd and CLAMD_HOST/CLAMD_PORT', async () => {
    Object.assign(process.env, { SCANNER: 'clamd', CLAMD_HOST: clamd.host, CLAMD_PORT: String(clamd.port) });
    resetRuntime();
    try {
      const scanner = getScanner();
      expect(scanner.backend).toBe('clamd');
      expect(getScanner()).toBe(scanner);
      expect(await scanner.scan(EICAR)).toEqual({ status: 'infected', signature: EICAR_REPORTED });
    } finally {
      for (const name of ['SCANNER', 'CLAMD_HOST', 'CLAMD_PORT']) delete process.env[name];
      resetRuntime();
    }
  });
});

/** A TCP server on a free loopback port that treats each connection with `onConnection`. */
async function fakeServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads everything the client sends; calls `reply` once the zero-length terminator chunk has arrived. */
function afterStream(socket: net.Socket, reply: (socket: net.Socket) => void): void {
  let received = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    received = Buffer.concat([received, data]);
    if (received.length >= 14 && received.subarray(-4).equals(Buffer.alloc(4))) reply(socket);
  });
}

describe('clamd backend when clamd is not there or not clamd', () => {
  it('fails as unavailable at once when nothing listens on the port', async () => {
    const closed = await fakeServer(() => undefined);
    await closed.close();
    // A 60 s time limit: only an immediate failure finishes inside the test's 10 s.
    const error = await rejection(createClamdScanner({ host: '127.0.0.1', port: closed.port, timeoutMs: 60_000 }).scan(EICAR));
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect(error.message).toMatch(/ECONNREFUSED/);
  }, 10_000);

  it('fails as unavailable after the time limit when the server takes everything and never answers', async () => {
    const silent = await fakeServer((socket) => socket.resume());
    try {
      const error = await rejection(createClamdScanner({ host: '127.0.0.1', port: silent.port, timeoutMs: 1000 }).scan(EICAR));
      expect(error).toBeInstanceOf(ScannerUnavailableError);
      expect(error.message).toMatch(/no verdict within 1000 ms/);
    } finally {
      await silent.close();
    }
  }, 15_000);

  it('does not buffer a stream the server does not read: backpressure holds it, then the time limit ends it', async () => {
    const stalled = await fakeServer((socket) => socket.pause());
    try {
      const source = generated(64 * MiB);
      const error = await rejection(createClamdScanner({ host: '127.0.0.1', port: stalled.port, timeoutMs: 1500 }).scan(source.stream));
      expect(error).toBeInstanceOf(ScannerUnavailableError);
      // Socket buffers hold a few MiB at most; a scanner that buffered would have read all 64.
      expect(source.produced()).toBeLessThan(16 * MiB);
      expect(source.stream.destroyed).toBe(true);
    } finally {
      await stalled.close();
    }
  }, 15_000);

  it.each<[string, (socket: net.Socket) => void]>([
    ['another command reply', (socket) => socket.end('PONG\0')],
    ['an unknown command', (socket) => socket.end('UNKNOWN COMMAND\0')],
    ['an error line', (socket) => socket.end('stream: lstat() failed: No such file or directory. ERROR\0')],
    ['a verdict without its NUL, then a close', (socket) => socket.end('stream: OK\n')],
    ['FOUND without a signature', (socket) => socket.end('stream:  FOUND\0')],
    ['binary noise', (socket) => socket.end(Buffer.from([0xff, 0xfe, 0x01, 0x00]))],
    ['an endless line', (socket) => socket.write('A'.repeat(64 * 1024))],
    ['a close without a reply', (socket) => socket.end()],
  ])('fails as unavailable on %s', async (_name, reply) => {
    const wrong = await fakeServer((socket) => afterStream(socket, reply));
    try {
      const error = await rejection(createClamdScanner({ host: '127.0.0.1', port: wrong.port, timeoutMs: 5000 }).scan(Buffer.from('hello')));
      expect(error).toBeInstanceOf(ScannerUnavailableError);
      expect(error.message).not.toMatch(/no verdict within/); // a protocol failure, found at once
      const problem = asScanProblem(error);
      expect(problem).toMatchObject({ status: 503, detail: 'Scanner unavailable', headers: { 'Retry-After': '30' } });
    } finally {
      await wrong.close();
    }
  });

  it('fails as unavailable when the server resets the connection mid-stream', async () => {
    const resetting = await fakeServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    try {
      const error = await rejection(createClamdScanner({ host: '127.0.0.1', port: resetting.port, timeoutMs: 5000 }).scan(generated(8 * MiB).stream));
      expect(error).toBeInstanceOf(ScannerUnavailableError);
    } finally {
      await resetting.close();
    }
  });
});
