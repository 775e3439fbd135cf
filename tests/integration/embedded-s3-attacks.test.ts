/**
 * What an outsider can do to the local runtime's embedded S3 server beyond what AWS S3 allows:
 * each test is a finding of the review of the SigV4 change, and fails until it is fixed. The
 * real server on a free port, driven by the AWS SDK, its presigner and fetch.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash, createHmac, type BinaryLike } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { startLocalRuntime, type LocalRuntime } from '../../infra/local/runtime';
import { getS3 } from '../../lib/storage/s3';
import { resetRuntime, startTestStorage, testS3Client, type TestStorage } from '../helpers/runtime';

let storage: TestStorage;
let s3: S3Client;

const client = (endpoint: string): S3Client => testS3Client(endpoint);

beforeAll(async () => {
  storage = await startTestStorage('attacks');
  s3 = client(storage.endpoint);
});
afterAll(async () => {
  s3.destroy();
  await storage.close();
});

const Bucket = 'attacks';
const outsiders: string[] = [];
/** A directory next to the server's data directory, which no S3 request may touch. */
function outside(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-outside-'));
  outsiders.push(directory);
  return directory;
}
afterAll(() => {
  for (const directory of outsiders) fs.rmSync(directory, { recursive: true, force: true });
});
const listing = (directory: string) => (fs.existsSync(directory) ? (fs.readdirSync(directory, { recursive: true }) as string[]).sort() : ['(directory removed)']);
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => ({ name: 'succeeded', status: 200 }),
    (error: unknown) => ({ name: (error as S3ServiceException).name, status: (error as S3ServiceException).$metadata?.httpStatusCode }),
  );

/** node:crypto as the hash the SigV4 signer asks for. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const binary = (data: SourceData): BinaryLike =>
  typeof data === 'string' ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
class Sha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', binary(secret));
  }
  update(data: SourceData): void {
    this.hash.update(binary(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {}
}

/** A request signed for exactly the raw path given (the SDK refuses to build these). */
async function signedFetch(method: string, rawPath: string, body?: string): Promise<Response> {
  const url = new URL(storage.endpoint);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, sha256: Sha256, uriEscapePath: false });
  const [pathname = '/', search = ''] = rawPath.split('?');
  const query = Object.fromEntries(new URLSearchParams(search));
  const headers = { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) };
  const signed = await signer.sign({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: pathname, query, headers });
  return fetch(`${storage.endpoint}${rawPath}`, { method, headers: signed.headers, body });
}

describe('the file system under the bucket', () => {
  // s3rver joins uploadId and partNumber from the query into a file path unchecked; S3 answers
  // NoSuchUpload for an upload it never started.
  it('is not left through an UploadPart uploadId or partNumber', async () => {
    const target = outside();
    const uploads = path.join(storage.directory, Bucket, '._S3rver_uploads');
    const UploadId = path.relative(uploads, target);
    const answers = [];
    for (const PartNumber of [1, 'authorized_keys' as unknown as number]) {
      const url = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: 'x', UploadId, PartNumber }), { expiresIn: 60 });
      const answer = await fetch(url, { method: 'PUT', body: 'written by a stranger' });
      answers.push([PartNumber, answer.status, await answer.text()]);
    }
    expect(listing(target)).toEqual([]);
    expect(answers).toEqual([1, 'authorized_keys'].map((PartNumber) => [PartNumber, 404, expect.stringContaining('<Code>NoSuchUpload</Code>')]));
  });

  // Completion reads `key` and `metadata` from the upload's directory and then removes it
  // recursively, wherever uploadId points.
  it('is not removed by completing an uploadId that points outside it', async () => {
    const victim = outside();
    fs.writeFileSync(path.join(victim, 'key'), 'loot.txt');
    fs.writeFileSync(path.join(victim, 'metadata'), '{}');
    fs.writeFileSync(path.join(victim, '1'), 'x');
    fs.writeFileSync(path.join(victim, 'precious.txt'), 'keep me');
    const UploadId = path.relative(path.join(storage.directory, Bucket, '._S3rver_uploads'), victim);
    const ETag = createHash('md5').update('x').digest('hex');
    const answer = await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'x', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } })));
    expect(listing(victim)).toEqual(['1', 'key', 'metadata', 'precious.txt']);
    expect(answer).toEqual({ name: 'NoSuchUpload', status: 404 });
  });

  // In S3 `..` is just two characters of a key; s3rver makes it a path segment. Storing such a
  // key inside the bucket (as S3 does) or refusing it with a 4xx would both be safe.
  it('is not left through an object key with dot segments', async () => {
    const target = outside();
    const Key = `${path.relative(path.join(storage.directory, Bucket), target)}/planted`;
    const put = await failure(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'planted' })));
    expect(listing(target)).toEqual([]);
    expect(put.status).toBeLessThan(500);
    if (put.status === 200) expect(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body?.transformToString()).toBe('planted');
  });

  // The bucket is a folder too, and s3rver checks its name only when creating one: DELETE of
  // a "bucket" `../x` removed any folder it found no objects in.
  it('is not removed through a bucket name with dot segments', async () => {
    const victim = outside();
    fs.writeFileSync(path.join(victim, 'precious.txt'), 'keep me');
    const bucket = path.relative(storage.directory, victim);
    const answer = await signedFetch('DELETE', `/${encodeURIComponent(bucket)}`);
    expect(listing(victim)).toEqual(['precious.txt']);
    expect([answer.status, await answer.text()]).toEqual([400, expect.stringContaining('<Code>InvalidBucketName</Code>')]);
  });

  // x-amz-copy-source names a bucket and key s3rver reads files from.
  it('is not read through a copy source with dot segments', async () => {
    const victim = outside();
    fs.writeFileSync(path.join(victim, 'loot._S3rver_object'), 'secret');
    const CopySource = `${Bucket}/${path.relative(path.join(storage.directory, Bucket), victim)}/loot`;
    const answer = await failure(s3.send(new CopyObjectCommand({ Bucket, Key: 'copied/loot', CopySource })));
    expect(answer).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await failure(s3.send(new GetObjectCommand({ Bucket, Key: 'copied/loot' })))).toEqual({ name: 'NoSuchKey', status: 404 });
  });

  // S3's limits, where s3rver would build a file name from them or fail with a 500.
  it('answers part numbers, keys and upload ids S3 would refuse with S3\'s 4xx', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp/x' }));
    const part = async (PartNumber: unknown, uploadId = UploadId) => {
      const url = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: 'mp/x', UploadId: uploadId, PartNumber: PartNumber as number }), { expiresIn: 60 });
      const answer = await fetch(url, { method: 'PUT', body: 'part' });
      return [PartNumber, answer.status, (/<Code>(\w+)<\/Code>/.exec(await answer.text()) ?? [])[1] ?? 'none'];
    };
    const answers = [];
    for (const PartNumber of [0, 10_001, '1.5', '01', 'evil.sh', 1, 10_000]) answers.push(await part(PartNumber));
    answers.push(await part(1, 'ffffffffffffffffffffffffffffffff'));
    expect(answers).toEqual([
      [0, 400, 'InvalidArgument'],
      [10_001, 400, 'InvalidArgument'],
      ['1.5', 400, 'InvalidArgument'],
      ['01', 400, 'InvalidArgument'],
      ['evil.sh', 400, 'InvalidArgument'],
      [1, 200, 'none'],
      [10_000, 200, 'none'],
      [1, 404, 'NoSuchUpload'],
    ]);
    const noPartNumber = await signedFetch('PUT', `/${Bucket}/mp/x?uploadId=${UploadId}`, 'part');
    expect(noPartNumber.status).toBe(400);

    const keys = [
      ['k'.repeat(1025), 'KeyTooLongError'],
      ['nul/a\u0000b', 'InvalidArgument'],
      ['._S3rver_uploads/x', 'InvalidArgument'],
    ];
    for (const [Key, code] of keys) {
      expect([Key, await failure(s3.send(new PutObjectCommand({ Bucket, Key, Body: 'x' })))]).toEqual([Key, { name: code, status: 400 }]);
    }
    expect(await failure(s3.send(new PutObjectCommand({ Bucket, Key: `ok/${'k'.repeat(200)}`, Body: 'x' })))).toEqual({ name: 'succeeded', status: 200 });
  });
});

describe('HTTP', () => {
  // `*` with credentials is what browsers refuse anyway; it only claims more than is allowed.
  it('does not pair Access-Control-Allow-Credentials with a wildcard origin', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'cors/a.txt', Body: 'a' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'cors/a.txt' }), { expiresIn: 60 });
    const headers = { origin: 'https://elsewhere.example' };
    for (const answer of [await fetch(url, { headers }), await fetch(url.replace(/X-Amz-Signature=\w/, 'X-Amz-Signature=0'), { headers })]) {
      expect([answer.status, answer.headers.get('access-control-allow-origin'), answer.headers.get('access-control-allow-credentials')]).toEqual([answer.status, '*', null]);
      await answer.arrayBuffer();
    }
  });

  // Refused before its body arrives, a request must not hold its connection waiting for it
  // (Node's keep-alive timeout would hold it 5 s); one whose body is still coming may finish
  // sending it and read the answer (tests/e2e/direct-upload: an oversized part gets its 403).
  it('closes the connection of a refused request whose body stops coming', async () => {
    const socket = net.connect(Number(new URL(storage.endpoint).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`PUT /${Bucket}/slow.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nonly the start`);
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 403 /);
  }, 3_000);

  it('closes at once the connection of a refused request whose body is too large to wait for', async () => {
    const socket = net.connect(Number(new URL(storage.endpoint).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`PUT /${Bucket}/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${5 * 1024 ** 3}\r\n\r\nonly the start`);
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 403 /);
  }, 3_000);
});

describe('presigned GET query parameters', () => {
  // The verifier decodes `+` as itself, s3rver (Koa's querystring) as a space: a signed
  // `%2B` sent as `+` still verifies, and s3rver serves another value than the signed one.
  it('are read by s3rver as they were signed: a signed + sent as + is refused', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'plus/a.txt', Body: 'a', ContentType: 'text/plain' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'plus/a.txt', ResponseContentType: 'image/svg+xml' }), { expiresIn: 60 });
    const signed = await fetch(url);
    expect([signed.status, signed.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
    const rewritten = await fetch(url.replace(/%2B/g, '+'));
    expect([rewritten.status, rewritten.headers.get('content-type')]).toEqual([403, 'application/xml']);
  });
});

describe('the local runtime\'s storage credentials', () => {
  const saved = { ...process.env };
  let runtime: LocalRuntime;
  let endpoint: string;

  beforeAll(async () => {
    // A fresh runtime with its own embedded server, configured with credentials of its own.
    delete process.env.S3_ENDPOINT;
    delete process.env.S3_PUBLIC_ENDPOINT;
    Object.assign(process.env, {
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'sua-creds-')),
      HOST: '127.0.0.1',
      PORT: '0',
      S3_PORT: '0',
      S3_BUCKET: 'uploads',
      S3_ACCESS_KEY_ID: 'local-developer',
      S3_SECRET_ACCESS_KEY: 'a-secret-only-this-machine-knows',
    });
    resetRuntime();
    runtime = await startLocalRuntime();
    endpoint = process.env.S3_ENDPOINT ?? '';
  });
  afterAll(async () => {
    await runtime.close();
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    resetRuntime();
  });

  // S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY are documented settings; the embedded server only
  // knows S3RVER/S3RVER, so the API signs with keys it refuses: every upload is a 500.
  it('are the ones the API signs with when S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY are set', async () => {
    const answer = await failure(getS3().send(new PutObjectCommand({ Bucket: 'uploads', Key: 'creds/api.txt', Body: 'from the API' })));
    expect(answer).toEqual({ name: 'succeeded', status: 200 });
  });

  // S3RVER/S3RVER is public: anyone who reaches the port (another local user, or any web page
  // in the developer's browser: the bucket's CORS rule allows every origin) can sign with it.
  it('are not the public S3RVER / S3RVER pair', async () => {
    const stranger = client(endpoint);
    const answers = [
      await failure(stranger.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'creds/stranger.txt', Body: 'planted' }))),
      await failure(stranger.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'creds/api.txt' }))),
    ];
    stranger.destroy();
    expect(answers).toEqual([
      { name: 'InvalidAccessKeyId', status: 403 },
      { name: 'InvalidAccessKeyId', status: 403 },
    ]);
  });
});

describe('the local runtime\'s generated storage credentials', () => {
  const saved = { ...process.env };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-gencreds-'));
  const start = async () => {
    for (const name of ['S3_ENDPOINT', 'S3_PUBLIC_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) delete process.env[name];
    Object.assign(process.env, { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', S3_PORT: '0', S3_BUCKET: 'uploads' });
    resetRuntime();
    return startLocalRuntime();
  };
  afterAll(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    resetRuntime();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Without S3_ACCESS_KEY_ID the pair is random, kept like the JWT secret, and the same after a restart.
  it('are random, kept in DATA_DIR for this user only, reused on restart, and only the id is printed', async () => {
    const first = await start();
    const file = path.join(dataDir, 's3-credentials');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
    try {
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(stored.accessKeyId).not.toBe('S3RVER');
      expect(stored.secretAccessKey.length).toBeGreaterThanOrEqual(32);
      expect([process.env.S3_ACCESS_KEY_ID, process.env.S3_SECRET_ACCESS_KEY]).toEqual([stored.accessKeyId, stored.secretAccessKey]);
      expect(first.notes.join('\n')).toContain(stored.accessKeyId);
      expect(first.notes.join('\n')).toContain(file);
      expect(first.notes.join('\n')).not.toContain(stored.secretAccessKey);
      expect(await failure(getS3().send(new PutObjectCommand({ Bucket: 'uploads', Key: 'gen/a.txt', Body: 'a' })))).toEqual({ name: 'succeeded', status: 200 });
    } finally {
      await first.close();
    }
    const second = await start();
    try {
      expect(process.env.S3_ACCESS_KEY_ID).toBe(stored.accessKeyId);
      const stranger = client(process.env.S3_ENDPOINT ?? '');
      expect(await failure(stranger.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'gen/a.txt' })))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
      stranger.destroy();
      const body = await (await getS3().send(new GetObjectCommand({ Bucket: 'uploads', Key: 'gen/a.txt' }))).Body?.transformToString();
      expect(body).toBe('a');
    } finally {
      await second.close();
    }
  });
});
