/**
 * The local runtime's embedded S3 server refuses what AWS S3 refuses: the real server on a free
 * port, driven by the AWS SDK, its presigner, fetch and a raw socket.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startTestStorage, testS3Client, type TestStorage } from '../helpers/runtime';

const MiB = 1024 ** 2;
let storage: TestStorage;
let s3: S3Client;

const client = (secretAccessKey = 'S3RVER', accessKeyId = 'S3RVER'): S3Client => testS3Client(storage.endpoint, { accessKeyId, secretAccessKey });

beforeAll(async () => {
  storage = await startTestStorage('strict');
  s3 = client();
});
afterAll(async () => {
  s3.destroy();
  await storage.close();
});

const Bucket = 'strict';
const text = async (response: Response) => ({ status: response.status, type: response.headers.get('content-type'), body: await response.text() });
const s3Error = (code: string, message?: string) =>
  expect.stringMatching(new RegExp(`^<\\?xml[^>]*\\?>\\n<Error><Code>${code}</Code><Message>${message ?? '[^<]+'}</Message>.*<RequestId>[0-9A-F]{16}</RequestId></Error>$`, 's'));

async function exists(Key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket, Key }));
    return true;
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
    throw error;
  }
}

/** What the API hands out for a direct upload: a PUT signed for one Content-Type and Content-Length. */
const presignPut = (Key: string, size: number, ContentType = 'image/png', options: { expiresIn?: number; signingDate?: Date } = {}) =>
  getSignedUrl(s3, new PutObjectCommand({ Bucket, Key, ContentType, ContentLength: size }), {
    expiresIn: options.expiresIn ?? 60,
    signableHeaders: new Set(['content-type', 'content-length']),
    ...(options.signingDate ? { signingDate: options.signingDate } : {}),
  });

describe('presigned PUT', () => {
  const bytes = Buffer.alloc(1000, 7);

  it('stores exactly the signed length and type, and nothing else', async () => {
    const url = await presignPut('put/exact.png', bytes.length);
    const refusals = [
      { label: 'fewer bytes', init: { headers: { 'Content-Type': 'image/png' }, body: bytes.subarray(1) } },
      { label: 'more bytes', init: { headers: { 'Content-Type': 'image/png' }, body: Buffer.concat([bytes, bytes]) } },
      { label: 'no Content-Type', init: { body: bytes } },
      { label: 'another Content-Type', init: { headers: { 'Content-Type': 'text/html' }, body: bytes } },
    ];
    for (const { label, init } of refusals) {
      const answer = await text(await fetch(url, { method: 'PUT', ...init }));
      expect([label, answer]).toEqual([label, { status: 403, type: 'application/xml', body: s3Error('SignatureDoesNotMatch') }]);
      expect(await exists('put/exact.png')).toBe(false);
    }
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: bytes })).status).toBe(200);
    const stored = await s3.send(new GetObjectCommand({ Bucket, Key: 'put/exact.png' }));
    expect([stored.ContentType, stored.ContentLength]).toEqual(['image/png', bytes.length]);
  });

  it('refuses a tampered signature, an expired URL and one that claims to last more than a week', async () => {
    const url = await presignPut('put/tampered.png', bytes.length);
    const signature = new URL(url).searchParams.get('X-Amz-Signature') ?? '';
    const flipped = url.replace(signature, `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`);
    const tampered = await text(await fetch(flipped, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: bytes }));
    expect(tampered).toEqual({ status: 403, type: 'application/xml', body: s3Error('SignatureDoesNotMatch') });

    const expired = await presignPut('put/expired.png', bytes.length, 'image/png', { expiresIn: 60, signingDate: new Date(Date.now() - 61_000) });
    const late = await text(await fetch(expired, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: bytes }));
    expect(late).toEqual({ status: 403, type: 'application/xml', body: s3Error('AccessDenied', 'Request has expired') });

    const forever = url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604801');
    expect((await fetch(forever, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: bytes })).status).toBe(400);
    expect(await exists('put/tampered.png')).toBe(false);
    expect(await exists('put/expired.png')).toBe(false);
  });

  it('keeps nothing of a body that stops short of its Content-Length', async () => {
    const url = new URL(await presignPut('put/cut.png', bytes.length));
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(`PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: image/png\r\nContent-Length: ${bytes.length}\r\n\r\n`);
        socket.write(bytes.subarray(0, 500), () => setTimeout(() => socket.destroy(), 200));
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    // The server learns of the abort asynchronously: a signed request asks until it has settled.
    for (let attempt = 0; attempt < 50 && leftovers().length; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await exists('put/cut.png')).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

describe('bodies S3 takes that the embedded server does not store as they are', () => {
  it('answers 411 to a PUT without Content-Length and 501 to an aws-chunked body, storing neither', async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'chunked/a.txt' }), { expiresIn: 60 });
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const chunked = await fetch(url, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect([chunked.status, await chunked.text()]).toEqual([411, s3Error('MissingContentLength')]);

    // The SDK's default for streams: CRC32 in a trailer of an aws-chunked body.
    const defaults = new S3Client({ endpoint: storage.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const error = await defaults.send(new PutObjectCommand({ Bucket, Key: 'chunked/b.txt', Body: Readable.from([Buffer.from('streamed')]), ContentLength: 8 })).catch((thrown: unknown) => thrown);
    defaults.destroy();
    expect([(error as S3ServiceException).name, (error as S3ServiceException).$metadata?.httpStatusCode]).toEqual(['NotImplemented', 501]);
    expect(await exists('chunked/a.txt')).toBe(false);
    expect(await exists('chunked/b.txt')).toBe(false);
  });
});

/** Temporary files of uploads still in flight (or left behind by broken ones). */
function leftovers(): string[] {
  return (fs.readdirSync(storage.directory, { recursive: true }) as string[]).filter((name) => name.endsWith('.partial')).map((name) => path.basename(name));
}

describe('requests without a valid signature', () => {
  beforeAll(async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'anon/secret.txt', Body: 'secret', ContentType: 'text/plain' }));
  });

  it('are refused for reads, listings and deletes, which change nothing', async () => {
    for (const [method, target] of [
      ['GET', '/strict/anon/secret.txt'],
      ['HEAD', '/strict/anon/secret.txt'],
      ['GET', '/strict?list-type=2'],
      ['GET', '/strict/'],
      ['GET', '/'],
      ['DELETE', '/strict/anon/secret.txt'],
      ['PUT', '/strict/anon/secret.txt'],
      ['POST', '/strict/anon/secret.txt?uploads'],
    ] as const) {
      const answer = await text(await fetch(`${storage.endpoint}${target}`, { method, ...(method === 'PUT' ? { body: 'overwritten' } : {}) }));
      expect([method, target, answer.status, answer.type]).toEqual([method, target, 403, 'application/xml']);
      if (method !== 'HEAD') expect(answer.body).toEqual(s3Error('AccessDenied', 'Access Denied'));
    }
    const kept = await s3.send(new GetObjectCommand({ Bucket, Key: 'anon/secret.txt' }));
    expect(await kept.Body?.transformToString()).toBe('secret');
  });

  it('are refused for an SDK client with a wrong secret or an unknown key', async () => {
    for (const [impostor, code] of [
      [client('not-the-secret'), 'SignatureDoesNotMatch'],
      [client('S3RVER', 'AKIAUNKNOWN'), 'InvalidAccessKeyId'],
    ] as const) {
      for (const command of [
        new GetObjectCommand({ Bucket, Key: 'anon/secret.txt' }),
        new ListObjectsV2Command({ Bucket }),
        new PutObjectCommand({ Bucket, Key: 'anon/secret.txt', Body: 'overwritten' }),
        new DeleteObjectCommand({ Bucket, Key: 'anon/secret.txt' }),
      ]) {
        const error = await impostor.send(command as GetObjectCommand).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(S3ServiceException);
        expect([(error as S3ServiceException).name, (error as S3ServiceException).$metadata.httpStatusCode]).toEqual([code, 403]);
      }
      impostor.destroy();
    }
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'anon/secret.txt' }))).Body?.transformToString()).toBe('secret');
  });

  it('refuses a body that does not hash to its signed x-amz-content-sha256', async () => {
    const liar = client();
    // After signing, before sending: the same length, other bytes.
    liar.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown };
        if (typeof request.body === 'string' || request.body instanceof Uint8Array) request.body = Buffer.from('jello');
        return next(args);
      },
      { step: 'deserialize', name: 'swapBodyAfterSigning' },
    );
    const error = await liar.send(new PutObjectCommand({ Bucket, Key: 'hash/lie.txt', Body: 'hello' })).catch((thrown: unknown) => thrown);
    expect([(error as S3ServiceException).name, (error as S3ServiceException).$metadata?.httpStatusCode]).toEqual(['XAmzContentSHA256Mismatch', 400]);
    liar.destroy();
    expect(await exists('hash/lie.txt')).toBe(false);
    await s3.send(new PutObjectCommand({ Bucket, Key: 'hash/lie.txt', Body: 'hello' })); // the honest one passes
    expect(await exists('hash/lie.txt')).toBe(true);
  });
});

describe('presigned GET', () => {
  it('serves the forced download it was signed for, and not an inline one', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'get/page.html', Body: '<script>alert(1)</script>', ContentType: 'text/html' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'get/page.html', ResponseContentDisposition: 'attachment; filename="page.html"' }), { expiresIn: 60 });
    const download = await fetch(url);
    expect([download.status, download.headers.get('content-disposition'), await download.text()]).toEqual([200, 'attachment; filename="page.html"', '<script>alert(1)</script>']);

    const inline = new URL(url);
    inline.searchParams.set('response-content-disposition', 'inline');
    const refused = await text(await fetch(inline));
    expect(refused).toEqual({ status: 403, type: 'application/xml', body: s3Error('SignatureDoesNotMatch') });
    const added = await text(await fetch(`${url}&response-content-type=text%2Fhtml`));
    expect(added.status).toBe(403);
  });
});

describe('the SDK with the right credentials', () => {
  it('puts, gets, copies, lists, deletes and uploads in parts', async () => {
    const key = 'sdk/a b+c (1)/ünïcödé.txt';
    await s3.send(new PutObjectCommand({ Bucket, Key: key, Body: 'hello world', ContentType: 'text/plain', Metadata: { owner: 'me' } }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: key, Range: 'bytes=0-4' }));
    expect(await got.Body?.transformToString()).toBe('hello');
    expect((await s3.send(new HeadObjectCommand({ Bucket, Key: key }))).Metadata).toEqual({ owner: 'me' });

    await s3.send(new CopyObjectCommand({ Bucket, Key: 'sdk/copy.txt', CopySource: encodeURI(`${Bucket}/${key}`) }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'sdk/copy.txt' }))).Body?.transformToString()).toBe('hello world');

    const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(1234, 2)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'sdk/big.bin', ContentType: 'application/octet-stream' }));
    const uploaded = [];
    for (const [index, Body] of parts.entries()) {
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket, Key: 'sdk/big.bin', UploadId, PartNumber: index + 1, Body }));
      uploaded.push({ ETag, PartNumber: index + 1 });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'sdk/big.bin', UploadId, MultipartUpload: { Parts: uploaded } }));
    const big = await s3.send(new GetObjectCommand({ Bucket, Key: 'sdk/big.bin' }));
    expect(Buffer.from((await big.Body?.transformToByteArray()) ?? []).equals(Buffer.concat(parts))).toBe(true);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'sdk/' }));
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual([key, 'sdk/big.bin', 'sdk/copy.txt']);

    await s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'sdk/copy.txt' }, { Key: 'sdk/big.bin' }] } }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'sdk/' }))).KeyCount).toBe(0);
    expect(leftovers()).toEqual([]);
  });
});

describe('browsers', () => {
  it('get CORS preflights answered without a signature, and CORS headers on answers and refusals', async () => {
    const url = await presignPut('cors/a.png', 4);
    const origin = { Origin: 'http://localhost:3000' };
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { ...origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' } });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-methods')]).toEqual([
      200,
      '*',
      'GET, HEAD, PUT',
    ]);

    const put = await fetch(url, { method: 'PUT', headers: { ...origin, 'Content-Type': 'image/png' }, body: 'abcd' });
    expect([put.status, put.headers.get('access-control-allow-origin'), put.headers.get('access-control-expose-headers')]).toEqual([200, '*', 'ETag']);
    const refused = await fetch(url, { method: 'PUT', headers: { ...origin, 'Content-Type': 'text/plain' }, body: 'abcd' });
    expect([refused.status, refused.headers.get('access-control-allow-origin')]).toEqual([403, '*']);
  });

  it("with an allow-list, answer the web client's origin and no other (as the local runtime sets it)", async () => {
    const app = 'http://127.0.0.1:8000';
    await storage.allowOrigins(['https://front.example', app]);
    try {
      const url = await presignPut('cors/b.png', 4);
      const ask = (origin: string) =>
        fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' } });
      const allowed = await ask(app);
      // (s3rver answers a matched preflight with `*`, AWS with the origin: both let the browser on.)
      expect([allowed.status, allowed.headers.get('access-control-allow-methods'), allowed.headers.get('access-control-allow-headers')]).toEqual([200, 'GET, HEAD, PUT', 'content-type']);
      expect(['*', app]).toContain(allowed.headers.get('access-control-allow-origin'));
      const put = await fetch(url, { method: 'PUT', headers: { Origin: app, 'Content-Type': 'image/png' }, body: 'abcd' });
      expect([put.status, put.headers.get('access-control-allow-origin'), put.headers.get('access-control-expose-headers')]).toEqual([200, app, 'ETag']);
      // Attack: script on the app's origin asking to POST to the bucket (SPEC: PUT, GET and
      // HEAD only; the API signs no POST, so nothing a browser does needs it).
      const post = await fetch(url, { method: 'OPTIONS', headers: { Origin: app, 'Access-Control-Request-Method': 'POST' } });
      expect([post.status, post.headers.get('access-control-allow-origin')]).toEqual([403, null]);
      const other = await ask('https://elsewhere.example');
      expect([other.status, other.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    } finally {
      await storage.allowOrigins([]);
    }
  });
});
