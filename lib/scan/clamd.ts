import { once } from 'node:events';
import net from 'node:net';
import { CLEAN, isBytes, ScannerUnavailableError, ScanTooLargeError, type Scanner, type ScanSource, type ScanVerdict } from './scanner';

/** Where clamd listens and how long a scan may take. */
export interface ClamdOptions {
  readonly host: string;
  readonly port: number;
  /** The whole scan, connection to verdict; past it the scan fails as unavailable. */
  readonly timeoutMs: number;
  /** Until the TCP connection is up; at most `timeoutMs`. Default 2000. */
  readonly connectTimeoutMs?: number;
}

/**
 * A reachable clamd connects within milliseconds (it is a sidecar or on the same network); an
 * address that drops SYNs would otherwise hold the request for the whole time limit.
 */
const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/**
 * Largest frame sent: clamd accepts any length up to `StreamMaxLength`, but a big in-memory
 * buffer is better sent in slices that the socket can take without a second copy of it queued.
 */
const MAX_CHUNK_BYTES = 256 * 1024;
/** Replies are one short line (`stream: <signature> FOUND`); anything longer is not clamd. */
const MAX_REPLY_BYTES = 4096;

const COMMAND = Buffer.from('zINSTREAM\0', 'latin1');
const END_OF_STREAM = Buffer.alloc(4);
const OK = 'stream: OK';
const FOUND = /^stream: ([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?) FOUND$/;
const SIZE_LIMIT = 'INSTREAM size limit exceeded. ERROR';

/**
 * A scanner that streams to a ClamAV daemon with `zINSTREAM`: the command, then the object as
 * chunks each prefixed with its length (4 bytes, big-endian), then a zero-length chunk; clamd
 * answers one NUL-terminated line. A stream source is sent as it is read, with backpressure
 * (never more than the socket's buffers in memory, whatever the object's size).
 *
 * One connection per scan: clamd closes it after each INSTREAM reply, and scans are rare next
 * to the cost of a TCP handshake on the same network.
 */
export function createClamdScanner(options: ClamdOptions): Scanner {
  return Object.freeze({ backend: 'clamd' as const, scan: (source: ScanSource) => scanWithClamd(source, options) });
}

function scanWithClamd(source: ScanSource, options: ClamdOptions): Promise<ScanVerdict> {
  const { host, port, timeoutMs } = options;
  const connectTimeoutMs = Math.min(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, timeoutMs);
  const where = `clamd at ${host}:${port}`;

  return new Promise<ScanVerdict>((resolve, reject) => {
    const abort = new AbortController();
    const socket = net.connect({ host, port });
    let reply = Buffer.alloc(0);
    let settled = false;

    const finish = (outcome: { verdict: ScanVerdict } | { error: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(overallTimer);
      abort.abort();
      socket.destroy();
      // Read to its end on a verdict; otherwise never finished: either way the stream is done.
      if (!isBytes(source)) source.destroy();
      if ('verdict' in outcome) resolve(outcome.verdict);
      else reject(outcome.error);
    };
    const unavailable = (message: string, cause?: unknown) =>
      finish({ error: new ScannerUnavailableError(`${where}: ${message}`, cause === undefined ? undefined : { cause }) });

    const connectTimer = setTimeout(() => unavailable(`no connection within ${connectTimeoutMs} ms`), connectTimeoutMs);
    const overallTimer = setTimeout(() => unavailable(`no verdict within ${timeoutMs} ms`), timeoutMs);

    socket.on('error', (error) => unavailable(error.message, error));
    socket.on('close', () => unavailable(reply.length ? `connection closed after an incomplete reply` : 'connection closed without a reply'));
    socket.on('data', (data: Buffer) => {
      reply = Buffer.concat([reply, data]);
      const end = reply.indexOf(0);
      if (end === -1) {
        if (reply.length > MAX_REPLY_BYTES) unavailable(`reply longer than ${MAX_REPLY_BYTES} bytes`);
        return;
      }
      // clamd may answer before the stream is sent (its size limit): the reply is final either way.
      try {
        finish({ verdict: parseInstreamReply(reply.subarray(0, end).toString('latin1')) });
      } catch (error) {
        finish({ error: error as Error });
      }
    });
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      sendStream(socket, source, abort.signal).catch((error: unknown) => {
        if (error instanceof WriteFailed) unavailable(`sending failed: ${error.message}`, error.cause);
        else finish({ error: error instanceof Error ? error : new Error(String(error)) }); // the source's own error
      });
    });
  });
}

/** A socket write failed (as opposed to the source failing while being read). */
class WriteFailed extends Error {}

async function sendStream(socket: net.Socket, source: ScanSource, signal: AbortSignal): Promise<void> {
  const write = async (bytes: Uint8Array): Promise<void> => {
    if (signal.aborted) throw new WriteFailed('aborted');
    if (socket.write(bytes)) return;
    try {
      // Rejects on 'error' too, and on abort (the scan ended: verdict, timeout or failure).
      await once(socket, 'drain', { signal });
    } catch (error) {
      throw new WriteFailed(error instanceof Error ? error.message : String(error), { cause: error });
    }
  };
  const sendChunk = async (chunk: Uint8Array): Promise<void> => {
    for (let offset = 0; offset < chunk.length; offset += MAX_CHUNK_BYTES) {
      const slice = chunk.subarray(offset, offset + MAX_CHUNK_BYTES);
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32BE(slice.length);
      await write(length);
      await write(slice);
    }
  };

  await write(COMMAND);
  if (isBytes(source)) {
    await sendChunk(source);
  } else {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      if (signal.aborted) return;
      await sendChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    }
  }
  await write(END_OF_STREAM);
}

/**
 * The verdict in one clamd INSTREAM reply line (without its NUL): `stream: OK` is clean,
 * `stream: <signature> FOUND` infected. The size-limit error throws {@link ScanTooLargeError};
 * any other line (`... ERROR`, `UNKNOWN COMMAND`, garbage) throws
 * {@link ScannerUnavailableError}, so nothing that is not a clear verdict ever passes.
 */
export function parseInstreamReply(line: string): ScanVerdict {
  if (line === OK) return CLEAN;
  const found = FOUND.exec(line);
  if (found?.[1]) return { status: 'infected', signature: found[1] };
  if (line === SIZE_LIMIT) throw new ScanTooLargeError('clamd: INSTREAM size limit exceeded (StreamMaxLength)');
  throw new ScannerUnavailableError(`clamd answered ${JSON.stringify(line.slice(0, 200))}`);
}
