import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as deleteFile } from '../../functions/files-delete';
import { handler as getFile } from '../../functions/files-get';
import { handler as listFiles } from '../../functions/files-list';
import { handler as upload } from '../../functions/upload';
import { handler as complete } from '../../functions/uploads-complete';
import { handler as plan } from '../../functions/uploads-plan';
import { getDb } from '../../lib/db/connection';
import { sweepExpiredUploads } from '../../lib/direct-uploads';
import { createTestEventV2, invoke, multipartBody, type InvokeResult } from '../helpers/events';
import { pdfBytes, pngBytes } from '../helpers/fixtures';
import { verifyPresignedUrl } from '../helpers/sigv4';
import { resetRuntime, startTestStorage, testDialect, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const MiB = 1024 ** 2;
let storage: TestStorage;
let alice: string;
let bob: string;

async function signUp(email: string): Promise<string> {
  const credentials = { email, password: 'SecurePassword123!' };
  await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  return (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
}

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  process.env.MULTIPART_THRESHOLD_BYTES = String(5 * MiB);
  process.env.USER_QUOTA_BYTES = String(40 * MiB);
  await resetRuntime();
  alice = await signUp('alice@example.com');
  bob = await signUp('bob@example.com');
});
afterAll(async () => {
  await resetRuntime();
  await storage.close();
});

const planEvent = (token: string, json: unknown) => createTestEventV2({ method: 'POST', path: '/uploads', token, json });
const completeEvent = (token: string, id: string, json?: unknown) =>
  createTestEventV2({ method: 'POST', path: `/uploads/${id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id }, token, json });
const fileEvent = (method: string, token: string, id: string) =>
  createTestEventV2({ method, path: `/files/${id}`, routeKey: `${method} /files/{id}`, pathParameters: { id }, token });
const list = (token: string, query: Record<string, string> = {}) =>
  invoke(listFiles, createTestEventV2({ path: '/files', token, query }));

/** What a client does with a PUT plan: send exactly the bytes and the headers it was given. */
async function putAsPlanned(planned: InvokeResult, bytes: Buffer): Promise<Response> {
  return fetch(planned.body.upload.url, { method: 'PUT', headers: planned.body.upload.headers, body: bytes });
}

async function directUpload(token: string, filename: string, contentType: string, bytes: Buffer) {
  const planned = await invoke(plan, planEvent(token, { filename, content_type: contentType, size: bytes.length }));
  expect(planned.status).toBe(201);
  expect((await putAsPlanned(planned, bytes)).status).toBe(200);
  return invoke(complete, completeEvent(token, planned.body.id));
}

async function rowCount(where = '1 = 1'): Promise<number> {
  return Number((await getDb().get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM files WHERE ${where}`))!.n);
}

/** Writes straight to storage with the server's own credentials, at the key a presigned URL names. */
async function putWithStorageCredentials(presignedUrl: string, body: Buffer, contentType: string): Promise<void> {
  const key = decodeURIComponent(new URL(presignedUrl).pathname.slice(`/${storage.bucket}/`.length));
  const s3 = new S3Client({ endpoint: storage.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await s3.send(new PutObjectCommand({ Bucket: storage.bucket, Key: key, Body: body, ContentType: contentType }));
  s3.destroy();
}

async function objectKeys(): Promise<string[]> {
  const s3 = new S3Client({ endpoint: storage.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
  s3.destroy();
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

describe('direct upload with a presigned PUT', () => {
  it('plans, uploads a real PNG straight to storage, completes, lists, reads and downloads it', async () => {
    const png = pngBytes(64, 64);
    const planned = await invoke(plan, planEvent(alice, { filename: 'cat.png', content_type: 'image/png', size: png.length }));
    expect(planned.status).toBe(201);
    expect(planned.body).toMatchObject({ id: expect.any(String), key: expect.stringMatching(/-cat\.png$/), expires_in: 3600 });
    const { upload: instructions } = planned.body;
    expect(instructions).toEqual({ method: 'PUT', url: expect.any(String), headers: { 'Content-Type': 'image/png' } });
    const signed = new URL(instructions.url).searchParams.get('X-Amz-SignedHeaders');
    expect(signed?.split(';')).toEqual(expect.arrayContaining(['content-length', 'content-type', 'host']));

    // Not listed, not readable until completed.
    expect((await list(alice)).body.files).toEqual([]);
    expect((await invoke(getFile, fileEvent('GET', alice, planned.body.id))).status).toBe(404);
    expect((await invoke(complete, completeEvent(alice, planned.body.id))).status).toBe(409); // nothing uploaded yet

    expect((await putAsPlanned(planned, png)).status).toBe(200);
    const done = await invoke(complete, completeEvent(alice, planned.body.id));
    expect(done.status).toBe(200);
    expect(done.body).toEqual({
      id: planned.body.id,
      filename: 'cat.png',
      key: planned.body.key,
      url: expect.any(String),
      status: 'uploaded',
      size: png.length,
      content_type: 'image/png',
      scan_status: 'unscanned', // SCANNER=none
    });
    expect(verifyPresignedUrl(done.body.url, 'S3RVER')).toBe(true);
    const again = await invoke(complete, completeEvent(alice, planned.body.id));
    expect([again.status, again.body.id]).toEqual([200, planned.body.id]); // completing twice is harmless

    const listed = await list(alice);
    expect(listed.body).toEqual({
      files: [{ id: planned.body.id, filename: 'cat.png', key: planned.body.key, size: png.length, content_type: 'image/png', created_at: expect.any(String), scan_status: 'unscanned' }],
      next_cursor: null,
    });
    const read = await invoke(getFile, fileEvent('GET', alice, planned.body.id));
    expect(read.status).toBe(200);
    const downloaded = Buffer.from(await (await fetch(read.body.url)).arrayBuffer());
    expect(downloaded.equals(png)).toBe(true);
  });

  it('keeps a stored file safe from its still-valid upload URL', async () => {
    const png = pngBytes(8, 8);
    const planned = await invoke(plan, planEvent(alice, { filename: 'keep.png', content_type: 'image/png', size: png.length }));
    expect(new URL(planned.body.upload.url).pathname).toMatch(/\/staging\//); // it lands on a staging key
    await putAsPlanned(planned, png);
    const done = await invoke(complete, completeEvent(alice, planned.body.id));
    expect(done.status).toBe(200);

    const svg = Buffer.concat([Buffer.from('<svg onload=alert(1)>'), Buffer.alloc(png.length - 21, 32)]);
    expect((await putAsPlanned(planned, svg)).status).toBe(200); // the URL still works, but not on the real key
    const again = await invoke(complete, completeEvent(alice, planned.body.id));
    expect(again.status).toBe(200);
    const downloaded = Buffer.from(await (await fetch(again.body.url)).arrayBuffer());
    expect(downloaded.equals(png)).toBe(true);
  });

  it('refuses lies about size and type at completion, deletes them, and never lists them', async () => {
    const before = await objectKeys();
    const pdf = pdfBytes(3000);
    const sizeLie = await invoke(plan, planEvent(alice, { filename: 'short.pdf', content_type: 'application/pdf', size: 5000 }));
    // The storage holds the URL to its signed Content-Length, as S3 does: fewer bytes are refused...
    const short = await fetch(sizeLie.body.upload.url, { method: 'PUT', headers: sizeLie.body.upload.headers, body: pdf });
    expect([short.status, await short.text()]).toEqual([403, expect.stringContaining('<Code>SignatureDoesNotMatch</Code>')]);
    expect((await invoke(complete, completeEvent(alice, sizeLie.body.id))).status).toBe(409); // nothing landed
    // ...and completion checks again whatever did land (a storage that did not enforce it).
    await putWithStorageCredentials(sizeLie.body.upload.url, pdf, 'application/pdf');
    const sizeRefused = await invoke(complete, completeEvent(alice, sizeLie.body.id));
    expect([sizeRefused.status, sizeRefused.body.detail]).toEqual([422, 'The uploaded object is 3000 bytes, not the declared 5000']);

    const typeLie = await invoke(plan, planEvent(alice, { filename: 'photo.png', content_type: 'image/png', size: pdf.length }));
    await putAsPlanned(typeLie, pdf);
    const typeRefused = await invoke(complete, completeEvent(alice, typeLie.body.id));
    expect([typeRefused.status, typeRefused.body.detail]).toEqual([422, "The file's content is application/pdf, not the declared image/png"]);

    const names = (await list(alice)).body.files.map((file: { filename: string }) => file.filename);
    expect(names).not.toEqual(expect.arrayContaining(['short.pdf']));
    expect(names).not.toEqual(expect.arrayContaining(['photo.png']));
    expect(await objectKeys()).toEqual(before);
    expect((await invoke(complete, completeEvent(alice, typeLie.body.id))).status).toBe(404); // the plan is gone too
  });

  it('validates the plan', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ filename: 'a.txt', content_type: 'text/plain' }, 422, '/size'],
      [{ filename: 'a.txt', content_type: 'text/plain', size: 0 }, 422, '/size'],
      [{ filename: 'a.txt', content_type: 'text/plain', size: 1.5 }, 422, '/size'],
      [{ filename: 'a.txt', content_type: 'not a type', size: 10 }, 422, '/content_type'],
      [{ filename: '../', content_type: 'text/plain', size: 10 }, 422, '/file'],
    ];
    for (const [body, status, pointer] of cases) {
      const result = await invoke(plan, planEvent(alice, body));
      expect([result.status, result.body.errors?.[0]?.pointer]).toEqual([status, pointer]);
    }
  });
});

describe('multipart direct upload', () => {
  it('moves a 12 MiB file in presigned parts and downloads it byte for byte', async () => {
    const bytes = pdfBytes(12 * MiB);
    const planned = await invoke(plan, planEvent(alice, { filename: 'big.pdf', content_type: 'application/pdf', size: bytes.length }));
    expect(planned.status).toBe(201);
    const { upload: instructions } = planned.body;
    expect(instructions).toMatchObject({ method: 'multipart', part_size: 8 * MiB });
    expect(instructions.parts.map((part: { part_number: number }) => part.part_number)).toEqual([1, 2]);
    // Every part URL is signed for its exact length: no part can carry more than its share.
    for (const part of instructions.parts as Array<{ url: string }>) {
      expect(new URL(part.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
    }

    const etags = [];
    for (const part of instructions.parts as Array<{ part_number: number; url: string }>) {
      const start = (part.part_number - 1) * instructions.part_size;
      const response = await fetch(part.url, { method: 'PUT', body: bytes.subarray(start, start + instructions.part_size) });
      expect(response.status).toBe(200);
      etags.push({ part_number: part.part_number, etag: response.headers.get('etag') ?? '' });
    }
    expect((await invoke(complete, completeEvent(alice, planned.body.id))).status).toBe(422); // parts are required
    const wrongEtag = await invoke(complete, completeEvent(alice, planned.body.id, { parts: [etags[0], { part_number: 2, etag: '"0000"' }] }));
    expect([wrongEtag.status, wrongEtag.body.detail]).toEqual([422, expect.stringContaining('parts do not match')]);
    const done = await invoke(complete, completeEvent(alice, planned.body.id, { parts: etags.reverse() }));
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ size: 12 * MiB, content_type: 'application/pdf', status: 'uploaded' });
    const downloaded = Buffer.from(await (await fetch(done.body.url)).arrayBuffer());
    expect(downloaded.equals(bytes)).toBe(true);
  });

  it('answers 422 for a part that was never uploaded (and storage survives it)', async () => {
    const planned = await invoke(plan, planEvent(alice, { filename: 'partial.bin', content_type: 'application/octet-stream', size: 20 * MiB }));
    const first = planned.body.upload.parts[0] as { url: string };
    const response = await fetch(first.url, { method: 'PUT', body: randomBytes(8 * MiB) });
    const parts = [
      { part_number: 1, etag: response.headers.get('etag') ?? '' },
      { part_number: 2, etag: '"d41d8cd98f00b204e9800998ecf8427e"' },
    ];
    const result = await invoke(complete, completeEvent(alice, planned.body.id, { parts }));
    expect(result.status).toBe(422);
    expect((await fetch(`${storage.endpoint}/`)).status).toBeLessThan(500); // still serving
  });
});

describe('listing', () => {
  it('pages through the caller\'s files newest first with a stable cursor', async () => {
    const carol = await signUp('carol@example.com');
    const names = Array.from({ length: 7 }, (_, index) => `note-${index}.txt`);
    for (const name of names) {
      const { body, contentType } = multipartBody([{ name: 'file', filename: name, contentType: 'text/plain', content: name }]);
      const stored = await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token: carol, headers: { 'content-type': contentType }, binary: body }));
      expect(stored.status).toBe(200);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list(carol, { limit: '3', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      seen.push(...page.body.files.map((file: { filename: string }) => file.filename));
      cursor = page.body.next_cursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...names].reverse());
    expect((await list(alice)).body.files.map((file: { filename: string }) => file.filename)).not.toContain('note-0.txt');
  });

  it('gives out cursors that reveal nothing about other users\' files and work only for their owner', async () => {
    const early = await signUp('early@example.com');
    const uploadText = async (token: string, name: string) => {
      const { body, contentType } = multipartBody([{ name: 'file', filename: name, contentType: 'text/plain', content: name }]);
      const stored = await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': contentType }, binary: body }));
      expect(stored.status).toBe(200);
      return stored.body.id as string;
    };
    for (const name of ['e1.txt', 'e2.txt']) await uploadText(early, name);
    const filler = await signUp('filler@example.com');
    for (let index = 0; index < 12; index += 1) await uploadText(filler, `f${index}.txt`);
    const late = await signUp('late@example.com');
    const lateIds = [];
    for (const name of ['l1.txt', 'l2.txt']) lateIds.push(await uploadText(late, name));

    const earlyCursor = (await list(early, { limit: '1' })).body.next_cursor as string;
    const lateCursor = (await list(late, { limit: '1' })).body.next_cursor as string;
    expect(typeof earlyCursor).toBe('string');
    // The same history gives cursors of the same shape, however many rows the database holds...
    expect(lateCursor.length).toBe(earlyCursor.length);
    // ...and no row position of the whole table is in them: neither the row's place among all
    // files (its rowid on SQLite, which has one; PostgreSQL's table has none) nor the row count.
    const positions = [Number((await getDb().get<{ n: number | string }>('SELECT COUNT(*) AS n FROM files'))!.n)];
    if (testDialect() === 'sqlite') positions.push((await getDb().get<{ position: number }>('SELECT rowid AS position FROM files WHERE id = ?', lateIds[1]!))!.position);
    for (const position of positions) {
      expect(Buffer.from(lateCursor, 'base64url').toString('latin1')).not.toMatch(new RegExp(`(^|\\D)${position}(\\D|$)`));
    }
    // A cursor is its owner's: someone else presenting it gets a 422, not a page of their own.
    const stolen = await list(early, { limit: '1', cursor: lateCursor });
    expect([stolen.status, stolen.headers['content-type']]).toEqual([422, 'application/problem+json']);
    expect((await list(late, { limit: '1', cursor: lateCursor })).body.files.map((file: { id: string }) => file.id)).toEqual([lateIds[0]]);
  });

  it('pages exactly through files created in the same second, newest first', async () => {
    const frank = await signUp('frank@example.com');
    const ids: string[] = [];
    for (let index = 0; index < 11; index += 1) {
      const { body, contentType } = multipartBody([{ name: 'file', filename: `same-${index}.txt`, contentType: 'text/plain', content: `same ${index}` }]);
      ids.push((await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token: frank, headers: { 'content-type': contentType }, binary: body }))).body.id);
    }
    await getDb().run(`UPDATE files SET created_at = '2030-01-01T00:00:00Z' WHERE id IN (${ids.map(() => '?').join(', ')})`, ...ids);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(frank, { limit: '4', ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      seen.push(...page.body.files.map((file: { id: string }) => file.id));
      cursor = page.body.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('answers 422 problem+json, never a 500, for made-up or tampered cursors', async () => {
    const real = (await list(alice, { limit: '1' })).body.next_cursor as string | null;
    const forged = ['v1:1', 'v2', 'v2.', 'v2..1', 'v2.AAAAAAAA.-1', 'v2.AAAAAAAA.1e9', 'v2.AAAAAAAA.99999999999999999999', '{"id":1}', '\u0000']
      .map((text) => Buffer.from(text).toString('base64url'));
    const garbage = ['%%%', '....', 'a'.repeat(512), '😀', 'null', '0', '-1'];
    const tampered = real ? [real.slice(0, -1), `${real}A`, real.slice(0, -2) + (real.endsWith('AA') ? 'BB' : 'AA'), real.toUpperCase()] : [];
    for (const cursor of [...forged, ...garbage, ...tampered]) {
      const result = await list(alice, { cursor });
      expect([cursor, result.status, result.headers['content-type']]).toEqual([cursor, 422, 'application/problem+json']);
    }
  });

  it('validates limit and cursor', async () => {
    const queries: Array<Record<string, string>> = [{ limit: '0' }, { limit: '1001' }, { limit: 'ten' }, { cursor: 'bm9wZQ' }];
    for (const query of queries) {
      const result = await list(alice, query);
      expect([JSON.stringify(query), result.status]).toEqual([JSON.stringify(query), 422]);
    }
    expect((await list(alice, { limit: '1000' })).status).toBe(200);
  });
});

describe('isolation between users', () => {
  it("answers 404 (never 403) for another user's file on read, delete and complete", async () => {
    const mine = await directUpload(alice, 'private.txt', 'text/plain', Buffer.from('secret'));
    expect(mine.status).toBe(200);
    for (const [handler, method] of [[getFile, 'GET'], [deleteFile, 'DELETE']] as const) {
      const result = await invoke(handler, fileEvent(method, bob, mine.body.id));
      expect([method, result.status, result.body.detail]).toEqual([method, 404, 'No such file']);
    }
    expect((await invoke(complete, completeEvent(bob, mine.body.id))).status).toBe(404);
    expect((await invoke(getFile, fileEvent('GET', alice, 'not-a-uuid'))).status).toBe(404);
    expect((await invoke(getFile, fileEvent('GET', alice, mine.body.id))).status).toBe(200);
  });

  it('deletes the object and the row', async () => {
    const mine = await directUpload(alice, 'gone.txt', 'text/plain', Buffer.from('bye'));
    const deleted = await invoke(deleteFile, fileEvent('DELETE', alice, mine.body.id));
    expect([deleted.status, deleted.raw.body]).toEqual([204, undefined]);
    expect((await invoke(getFile, fileEvent('GET', alice, mine.body.id))).status).toBe(404);
    expect(await objectKeys()).not.toContain(mine.body.key);
    expect((await invoke(deleteFile, fileEvent('DELETE', alice, mine.body.id))).status).toBe(404);
  });
});

describe('quota', () => {
  it('counts stored and pending bytes and names the quota when refusing', async () => {
    const dave = await signUp('dave@example.com');
    const first = await invoke(plan, planEvent(dave, { filename: 'a.bin', content_type: 'application/octet-stream', size: 30 * MiB }));
    expect(first.status).toBe(201);
    const second = await invoke(plan, planEvent(dave, { filename: 'b.bin', content_type: 'application/octet-stream', size: 11 * MiB }));
    expect(second.status).toBe(413);
    expect(second.body.detail).toMatch(/storage quota of 41943040 bytes \(USER_QUOTA_BYTES\)/);
    const { body, contentType } = multipartBody([{ name: 'file', filename: 'c.txt', contentType: 'text/plain', content: randomBytes(10).toString('hex') }]);
    const small = await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token: dave, headers: { 'content-type': contentType }, binary: body }));
    expect(small.status).toBe(200); // 30 MiB + 20 bytes still fits
  });
});

describe('abandoned uploads', () => {
  it('are swept: plan rows, leftover objects and multipart uploads', async () => {
    const eve = await signUp('eve@example.com');
    const single = await invoke(plan, planEvent(eve, { filename: 'left.txt', content_type: 'text/plain', size: 4 }));
    await putAsPlanned(single, Buffer.from('left'));
    const multi = await invoke(plan, planEvent(eve, { filename: 'huge.bin', content_type: 'application/octet-stream', size: 6 * MiB }));
    expect(multi.body.upload.method).toBe('multipart');
    expect(await rowCount("status = 'pending'")).toBeGreaterThanOrEqual(2);

    const kept = await directUpload(eve, 'kept.txt', 'text/plain', Buffer.from('kept'));
    expect(kept.status).toBe(200);

    expect(await sweepExpiredUploads(new Date())).toBe(0); // nothing has expired yet
    const removed = await sweepExpiredUploads(new Date(Date.now() + 2 * 3600_000));
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await rowCount("status = 'pending'")).toBe(0);
    expect(await objectKeys()).not.toContain(single.body.key);
    expect((await invoke(complete, completeEvent(eve, single.body.id))).status).toBe(404);
    // A completed file is never the sweep's business.
    expect((await invoke(getFile, fileEvent('GET', eve, kept.body.id))).status).toBe(200);
    expect(await objectKeys()).toContain(kept.body.key);
  });
});
