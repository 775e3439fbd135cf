import { Readable } from 'node:stream';
import { ConfigError, loadConfig } from '../../lib/config';
import { HttpError } from '../../lib/http/errors';
import { parseInstreamReply } from '../../lib/scan/clamd';
import { getScanner } from '../../lib/scan/get-scanner';
import { guardDutyScanner } from '../../lib/scan/guardduty';
import { noneScanner } from '../../lib/scan/none';
import { asScanProblem } from '../../lib/scan/problems';
import { ScannerUnavailableError, ScanTooLargeError } from '../../lib/scan/scanner';
import { isServable } from '../../lib/scan/servable';
import { resetRuntime } from '../helpers/runtime';

const secret = 'x'.repeat(32);

describe('scanner configuration', () => {
  it('defaults to no scanning, and to a clamd on this machine when asked for one', () => {
    expect(loadConfig({ JWT_SECRET: secret }).scanner).toEqual({
      backend: 'none',
      clamd: { host: '127.0.0.1', port: 3310, timeoutMs: 10_000 },
      maxBytes: 100 * 1024 ** 2, // clamd's own default StreamMaxLength
    });
  });

  it('reads SCANNER (any case) and the clamd address and time limit', () => {
    const config = loadConfig({
      JWT_SECRET: secret,
      SCANNER: ' ClamD ',
      CLAMD_HOST: 'clamav',
      CLAMD_PORT: '3311',
      CLAMD_TIMEOUT_MS: '2500',
      SCAN_MAX_BYTES: '26214400',
    });
    expect(config.scanner).toEqual({ backend: 'clamd', clamd: { host: 'clamav', port: 3311, timeoutMs: 2500 }, maxBytes: 26_214_400 });
    expect(loadConfig({ JWT_SECRET: secret, SCANNER: 'guardduty', AWS_LAMBDA_FUNCTION_NAME: 'upload' }).scanner.backend).toBe('guardduty');
    expect(Object.isFrozen(config.scanner.clamd)).toBe(true);
  });

  it.each<[NodeJS.ProcessEnv, RegExp]>([
    [{ SCANNER: 'clamav' }, /^Invalid configuration: SCANNER /],
    [{ CLAMD_HOST: 'tcp://clamav:3310' }, /^Invalid configuration: CLAMD_HOST must be a host name or IP address/],
    [{ CLAMD_PORT: '0' }, /^Invalid configuration: CLAMD_PORT /],
    [{ CLAMD_PORT: '3310/tcp' }, /^Invalid configuration: CLAMD_PORT must be a whole number/],
    [{ CLAMD_TIMEOUT_MS: '10' }, /^Invalid configuration: CLAMD_TIMEOUT_MS /],
    [{ SCAN_MAX_BYTES: '0' }, /^Invalid configuration: SCAN_MAX_BYTES /],
    // GuardDuty answers through EventBridge in AWS; nothing would ever record a verdict here.
    [{ SCANNER: 'guardduty' }, /^Invalid configuration: SCANNER=guardduty works only in AWS Lambda \(cdk deploy -c scanner=guardduty\)/],
  ])('refuses %j with one line', (env, message) => {
    expect(() => loadConfig({ JWT_SECRET: secret, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ JWT_SECRET: secret, ...env })).toThrow(message);
  });
});

describe('getScanner', () => {
  afterEach(() => {
    delete process.env.SCANNER;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    resetRuntime();
  });

  it('is one scanner per container, chosen by SCANNER, and follows the configuration after a reset', () => {
    resetRuntime();
    const first = getScanner();
    expect(first.backend).toBe('none');
    expect(getScanner()).toBe(first);
    process.env.SCANNER = 'guardduty';
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'upload'; // guardduty is for Lambda only
    expect(getScanner()).toBe(first); // read once, like the rest of the configuration
    resetRuntime();
    expect(getScanner().backend).toBe('guardduty');
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.SCANNER = 'clamd';
    resetRuntime();
    expect(getScanner().backend).toBe('clamd');
  });
});

describe('parseInstreamReply', () => {
  it.each([
    ['stream: OK', { status: 'clean' }],
    ['stream: Eicar-Test-Signature FOUND', { status: 'infected', signature: 'Eicar-Test-Signature' }],
    ['stream: Win.Test.EICAR_HDB-1 FOUND', { status: 'infected', signature: 'Win.Test.EICAR_HDB-1' }],
    ['stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND', { status: 'infected', signature: 'Heuristics.Limits.Exceeded.MaxFileSize' }],
  ])('reads %j as a verdict', (line, verdict) => {
    expect(parseInstreamReply(line)).toEqual(verdict);
  });

  it('reads the size limit as too large to scan', () => {
    expect(() => parseInstreamReply('INSTREAM size limit exceeded. ERROR')).toThrow(ScanTooLargeError);
  });

  it.each([
    'stream: lstat() failed: No such file or directory. ERROR',
    'UNKNOWN COMMAND',
    'PONG',
    '',
    'stream: ok',
    'stream: OK ',
    'stream:  FOUND',
    'stream: FOUND',
    'stream: bad\u0001name FOUND',
    '1: stream: OK',
  ])('refuses %j as no verdict at all (fail closed)', (line) => {
    expect(() => parseInstreamReply(line)).toThrow(ScannerUnavailableError);
  });
});

describe('the none and guardduty backends', () => {
  it('none answers clean without reading, and releases a stream', async () => {
    let reads = 0;
    const stream = new Readable({
      read() {
        reads += 1;
        this.push(null);
      },
    });
    expect(await noneScanner.scan(stream)).toEqual({ status: 'clean' });
    expect(await noneScanner.scan(Buffer.from('x'))).toEqual({ status: 'clean' });
    expect([noneScanner.backend, stream.destroyed, reads]).toEqual(['none', true, 0]);
  });

  it('guardduty has no inline verdict: scan rejects instead of calling unseen bytes clean', async () => {
    const stream = Readable.from([Buffer.from('x')]);
    await expect(guardDutyScanner.scan(stream)).rejects.toThrow(/asynchronously/);
    await expect(guardDutyScanner.scan(Buffer.from('x'))).rejects.not.toBeInstanceOf(ScannerUnavailableError);
    expect([guardDutyScanner.backend, stream.destroyed]).toEqual(['guardduty', true]);
  });
});

describe('asScanProblem', () => {
  it('turns an unavailable scanner into 503 "Scanner unavailable" with Retry-After, keeping the cause', () => {
    const cause = new ScannerUnavailableError('clamd at 10.0.0.5:3310: connect ECONNREFUSED');
    const problem = asScanProblem(cause);
    expect(problem).toBeInstanceOf(HttpError);
    expect(problem).toMatchObject({
      status: 503,
      title: 'Service Unavailable',
      detail: 'Scanner unavailable',
      headers: { 'Retry-After': '30' },
      cause,
    });
    expect((problem as HttpError).detail).not.toContain('10.0.0.5');
  });

  it('turns a too-large object into 413 without Retry-After', () => {
    expect(asScanProblem(new ScanTooLargeError('x'))).toMatchObject({ status: 413, detail: 'The file is too large to scan', headers: {} });
  });

  it('passes any other error through unchanged', () => {
    const other = new Error('storage read failed');
    expect(asScanProblem(other)).toBe(other);
  });
});

describe('isServable', () => {
  it('serves clean and unscanned files (and rows from before the scan gate), never pending or infected ones', () => {
    expect(['clean', 'unscanned', null, undefined].map((scan_status) => isServable({ scan_status }))).toEqual([true, true, true, true]);
    expect(['pending', 'infected', 'CLEAN', ''].map((scan_status) => isServable({ scan_status }))).toEqual([false, false, false, false]);
  });
});
