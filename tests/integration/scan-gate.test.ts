/**
 * The scan gate with SCANNER=clamd against a real clamd (tests/helpers/clamd.ts: Debian's
 * clamd with an EICAR signature), the embedded S3 server and the database (SQLite or PostgreSQL), through the exported
 * handlers: infected files are refused on both upload paths and leave nothing behind, clean
 * files are served, and a scanner that cannot be reached serves nothing (fail closed).
 */
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { handler as listFiles } from '../../functions/files-list';
import { handler as events } from '../../functions/auth-events';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as getFile } from '../../functions/files-get';
import { handler as upload } from '../../functions/upload';
import { handler as complete } from '../../functions/uploads-complete';
import { handler as plan } from '../../functions/uploads-plan';
import { getDb } from '../../lib/db/connection';
import { describeWithClamd, EICAR, EICAR_REPORTED, startClamd, type TestClamd } from '../helpers/clamd';
import { createTestEventV2, invoke, multipartBody, type InvokeResult } from '../helpers/events';
import { pdfBytes } from '../helpers/fixtures';
import { resetRuntime, startTestStorage, testS3Client, useFreshDatabase, type TestStorage } from '../helpers/runtime';

const MiB = 1024 ** 2;
let storage: TestStorage;
let clamd: TestClamd;
let token: string;
let userId: string;

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function useClamd(port: number, extra: Record<string, string> = {}): Promise<void> {
  delete process.env.SCAN_MAX_BYTES;
  Object.assign(process.env, { SCANNER: 'clamd', CLAMD_HOST: '127.0.0.1', CLAMD_PORT: String(port), CLAMD_TIMEOUT_MS: '5000', ...extra });
  await resetRuntime();
}

const uploadEvent = (filename: string, contentType: string, content: Buffer) => {
  const form = multipartBody([{ name: 'file', filename, contentType, content }]);
  return createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': form.contentType }, binary: form.body });
};
const planEvent = (json: unknown) => createTestEventV2({ method: 'POST', path: '/uploads', token, json });
const completeEvent = (id: string, json?: unknown) =>
  createTestEventV2({ method: 'POST', path: `/uploads/${id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id }, token, json });
const fileEvent = (id: string) => createTestEventV2({ path: `/files/${id}`, routeKey: 'GET /files/{id}', pathParameters: { id }, token });

async function planAndPut(filename: string, contentType: string, bytes: Buffer): Promise<InvokeResult> {
  const planned = await invoke(plan, planEvent({ filename, content_type: contentType, size: bytes.length }));
  expect(planned.status).toBe(201);
  const { upload: instructions } = planned.body;
  if (instructions.method === 'PUT') {
    expect((await fetch(instructions.url, { method: 'PUT', headers: instructions.headers, body: bytes })).status).toBe(200);
  }
  return planned;
}

/** PUTs every part of a multipart plan and returns what completion needs. */
async function putParts(planned: InvokeResult, bytes: Buffer): Promise<{ parts: Array<{ part_number: number; etag: string }> }> {
  const { part_size: partSize, parts } = planned.body.upload as { part_size: number; parts: Array<{ part_number: number; url: string }> };
  const done = [];
  for (const part of parts) {
    const start = (part.part_number - 1) * partSize;
    const response = await fetch(part.url, { method: 'PUT', body: bytes.subarray(start, start + partSize) });
    expect(response.status).toBe(200);
    done.push({ part_number: part.part_number, etag: response.headers.get('etag') ?? '' });
  }
  return { parts: done };
}

/** The files' rows in the order they were recorded (list_seq: the one user's upload order; PostgreSQL has no rowid). */
const fileRows = (): Promise<Array<{ id: string; status: string; scan_status: string }>> =>
  getDb().all<{ id: string; status: string; scan_status: string }>('SELECT id, status, scan_status FROM files ORDER BY list_seq');

async function objectKeys(): Promise<string[]> {
  const s3 = testS3Client(storage.endpoint);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
  s3.destroy();
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

async function exists(key: string): Promise<boolean> {
  const s3 = testS3Client(storage.endpoint);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return false;
    throw error;
  } finally {
    s3.destroy();
  }
}

async function infectedEvents(): Promise<Array<{ type: string; details: Record<string, unknown> }>> {
  const answer = await invoke(events, createTestEventV2({ path: '/auth/events', token }));
  return (answer.body.events as Array<{ type: string; details: Record<string, unknown> }>).filter((event) => event.type === 'file.infected');
}

describeWithClamd('scan gate with SCANNER=clamd (real clamd)', () => {
  beforeAll(async () => {
    [storage, clamd] = await Promise.all([startTestStorage(), startClamd()]);
    await useFreshDatabase();
    process.env.MULTIPART_THRESHOLD_BYTES = String(5 * MiB);
    await useClamd(clamd.port);
    const credentials = { email: 'scanned@example.com', password: 'SecurePassword123!' };
    userId = (await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }))).body.id;
    token = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
  });
  afterAll(async () => {
    for (const name of ['SCANNER', 'CLAMD_HOST', 'CLAMD_PORT', 'CLAMD_TIMEOUT_MS', 'SCAN_MAX_BYTES', 'MULTIPART_THRESHOLD_BYTES']) delete process.env[name];
    await resetRuntime();
    await Promise.all([storage?.close(), clamd?.stop()]);
  });
  afterEach(() => useClamd(clamd.port));

  describe('POST /upload', () => {
    it('refuses EICAR with 422 "Malware detected", keeps no object and no row, and audits file.infected', async () => {
      const before = await objectKeys();
      const answer = await invoke(upload, uploadEvent('eicar.txt', 'text/plain', EICAR));
      expect([answer.status, answer.headers['content-type']]).toEqual([422, 'application/problem+json']);
      expect(answer.body).toMatchObject({ status: 422, detail: 'Malware detected' });
      expect(JSON.stringify(answer.body)).not.toContain('Eicar'); // the signature is for the audit log
      expect(await fileRows()).toEqual([]);
      expect(await objectKeys()).toEqual(before);
      expect(await infectedEvents()).toEqual([
        expect.objectContaining({ details: { file_id: expect.any(String), filename: 'eicar.txt', size: EICAR.length, signature: EICAR_REPORTED } }),
      ]);
    });

    it('stores a clean file as clean and serves it: the seed 200 with a working URL', async () => {
      const content = pdfBytes(20_000);
      const answer = await invoke(upload, uploadEvent('report.pdf', 'application/pdf', content));
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        id: expect.any(String),
        filename: 'report.pdf',
        key: `${userId}/${answer.body.id}-report.pdf`,
        url: expect.any(String),
        status: 'uploaded',
        scan_status: 'clean',
      });
      expect(Buffer.from(await (await fetch(answer.body.url)).arrayBuffer()).equals(content)).toBe(true);
      const read = await invoke(getFile, fileEvent(answer.body.id));
      expect(read.body).toMatchObject({ scan_status: 'clean', url: expect.any(String) });
    });

    it('fails closed when clamd cannot be reached: 503 "Scanner unavailable" with Retry-After, nothing kept', async () => {
      await useClamd(await closedPort());
      const rows = await fileRows();
      const keys = await objectKeys();
      const answer = await invoke(upload, uploadEvent('notes.txt', 'text/plain', Buffer.from('harmless notes')));
      expect([answer.status, answer.headers['retry-after'], answer.body.detail]).toEqual([503, '30', 'Scanner unavailable']);
      expect(await fileRows()).toEqual(rows);
      expect(await objectKeys()).toEqual(keys);
    });

    it('refuses a file above SCAN_MAX_BYTES before scanning it (413)', async () => {
      await useClamd(clamd.port, { SCAN_MAX_BYTES: '1000' });
      const answer = await invoke(upload, uploadEvent('big.txt', 'text/plain', Buffer.alloc(1001, 'a')));
      expect([answer.status, answer.body.detail]).toEqual([413, 'The file is too large to scan: at most 1000 bytes (SCAN_MAX_BYTES)']);
    });
  });

  describe('direct upload, scanned at completion', () => {
    it('refuses EICAR with 422: object, staging object and plan deleted, never downloadable, audited', async () => {
      const planned = await planAndPut('eicar.txt', 'text/plain', EICAR);
      const answer = await invoke(complete, completeEvent(planned.body.id));
      expect([answer.status, answer.body.detail]).toEqual([422, 'Malware detected']);
      expect((await fileRows()).map((row) => row.id)).not.toContain(planned.body.id);
      expect([await exists(planned.body.key), await exists(`staging/${planned.body.key}`)]).toEqual([false, false]);
      expect((await invoke(complete, completeEvent(planned.body.id))).status).toBe(404);
      expect((await invoke(getFile, fileEvent(planned.body.id))).status).toBe(404);
      expect((await infectedEvents())[0]).toMatchObject({ details: { file_id: planned.body.id, direct: true, signature: EICAR_REPORTED } });
    });

    it('streams a multipart object to clamd: EICAR at the end of 6 MiB is found, and the upload removed', async () => {
      const bytes = pdfBytes(6 * MiB);
      EICAR.copy(bytes, bytes.length - EICAR.length);
      const planned = await planAndPut('tail.pdf', 'application/pdf', bytes);
      expect(planned.body.upload.method).toBe('multipart');
      const answer = await invoke(complete, completeEvent(planned.body.id, await putParts(planned, bytes)));
      expect([answer.status, answer.body.detail]).toEqual([422, 'Malware detected']);
      expect(await exists(planned.body.key)).toBe(false);
      expect((await fileRows()).map((row) => row.id)).not.toContain(planned.body.id);
    });

    it('stores a clean upload as clean, with a URL that downloads it', async () => {
      const bytes = pdfBytes(30_000);
      const planned = await planAndPut('clean.pdf', 'application/pdf', bytes);
      const answer = await invoke(complete, completeEvent(planned.body.id));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: planned.body.id, scan_status: 'clean', url: expect.any(String), size: bytes.length });
      expect(Buffer.from(await (await fetch(answer.body.url)).arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('answers 503 while clamd is unreachable and keeps the plan pending; a retry completes it once clamd is back', async () => {
      const bytes = pdfBytes(10_000);
      const planned = await planAndPut('later.pdf', 'application/pdf', bytes);
      await useClamd(await closedPort());
      const refused = await invoke(complete, completeEvent(planned.body.id));
      expect([refused.status, refused.headers['retry-after'], refused.body.detail]).toEqual([503, '30', 'Scanner unavailable']);
      expect((await fileRows()).find((row) => row.id === planned.body.id)).toEqual({ id: planned.body.id, status: 'pending', scan_status: 'pending' });
      expect((await invoke(getFile, fileEvent(planned.body.id))).status).toBe(404); // nothing served meanwhile

      await useClamd(clamd.port);
      const retried = await invoke(complete, completeEvent(planned.body.id));
      expect(retried.status).toBe(200);
      expect(retried.body).toMatchObject({ scan_status: 'clean', url: expect.any(String) });
      expect(Buffer.from(await (await fetch(retried.body.url)).arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('refuses to plan a size above SCAN_MAX_BYTES (413): such a file could never be scanned', async () => {
      await useClamd(clamd.port, { SCAN_MAX_BYTES: String(MiB) });
      const answer = await invoke(plan, planEvent({ filename: 'huge.pdf', content_type: 'application/pdf', size: MiB + 1 }));
      expect([answer.status, answer.body.detail]).toEqual([413, `The file is too large to scan: at most ${MiB} bytes (SCAN_MAX_BYTES)`]);
      expect((await invoke(plan, planEvent({ filename: 'ok.pdf', content_type: 'application/pdf', size: MiB }))).status).toBe(201);
    });
  });

  describe('with a clamd whose StreamMaxLength is below SCAN_MAX_BYTES (misconfigured)', () => {
    let small: TestClamd;
    beforeAll(async () => {
      small = await startClamd({ streamMaxLength: 4096 });
    });
    afterAll(async () => {
      await small?.stop();
    });

    it('refuses a completion clamd cannot take with 413 and deletes plan and object (the same bytes can never pass)', async () => {
      await useClamd(small.port);
      const planned = await planAndPut('over.pdf', 'application/pdf', pdfBytes(20_000));
      // clamd answers the size error and closes while the rest of the stream is still being
      // written; on a loaded machine the reset can reach the socket before the reply is read,
      // which is a 503 (the plan stays pending, fail closed). A client retries on Retry-After,
      // as here, and meets the 413.
      let answer = await invoke(complete, completeEvent(planned.body.id));
      for (let retry = 0; answer.status === 503 && retry < 5; retry += 1) answer = await invoke(complete, completeEvent(planned.body.id));
      expect([answer.status, answer.body.detail, answer.headers['retry-after']]).toEqual([413, 'The file is too large to scan', undefined]);
      expect((await fileRows()).map((row) => row.id)).not.toContain(planned.body.id);
      expect([await exists(planned.body.key), await exists(`staging/${planned.body.key}`)]).toEqual([false, false]);
    });
  });

  // The security review's attempts to get past the gate.
  describe('attacks', () => {
    const variants: Array<[string, string, Buffer]> = [
      ['octet.bin', 'application/octet-stream', EICAR],
      ['eicar.pdf', 'application/pdf', Buffer.concat([pdfBytes(2000), EICAR])],
      ['boundary.txt', 'text/plain', Buffer.concat([Buffer.alloc(256 * 1024 - 10, 'a'), EICAR, Buffer.alloc(100, 'b')])],
      ['eicar.gz', 'application/gzip', gzipSync(EICAR)],
      ['nul.txt', 'text/plain', Buffer.concat([Buffer.alloc(1, 0), EICAR])],
    ];
    it.each(variants)('POST /upload refuses %s (%s)', async (filename, type, bytes) => {
      const before = await fileRows();
      const answer = await invoke(upload, uploadEvent(filename, type, bytes));
      expect([answer.status, answer.body.url]).not.toEqual([200, expect.any(String)]);
      expect(await fileRows()).toEqual(before); // no new row, whatever the earlier tests stored
    });

    it('two file parts: the scanned one is the stored one', async () => {
      const form = multipartBody([
        { name: 'file', filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('clean') },
        { name: 'file', filename: 'b.txt', contentType: 'text/plain', content: EICAR },
      ]);
      const answer = await invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': form.contentType }, binary: form.body }));
      if (answer.status === 200) {
        const stored = Buffer.from(await (await fetch(answer.body.url)).arrayBuffer());
        expect(stored.includes(EICAR)).toBe(false);
      }
    });

    it('direct multipart: EICAR split across the part boundary is found', async () => {
      const bytes = pdfBytes(6 * MiB);
      EICAR.copy(bytes, 5 * MiB - 30);
      const planned = await planAndPut('split.pdf', 'application/pdf', bytes);
      expect(planned.body.upload.method).toBe('multipart');
      const answer = await invoke(complete, completeEvent(planned.body.id, await putParts(planned, bytes)));
      expect(answer.status).toBe(422);
    });

    it('direct PUT: a clean completion, then EICAR through the still-valid PUT URL, never reaches the served file', async () => {
      const bytes = Buffer.from('clean text file, nothing to see');
      const evil = Buffer.concat([EICAR, Buffer.alloc(bytes.length - EICAR.length > 0 ? bytes.length - EICAR.length : 0, ' ')]).subarray(0, Math.max(bytes.length, EICAR.length));
      const planned = await invoke(plan, planEvent({ filename: 'x.txt', content_type: 'text/plain', size: bytes.length }));
      const { url, headers } = planned.body.upload;
      expect((await fetch(url, { method: 'PUT', headers, body: bytes })).status).toBe(200);
      const done = await invoke(complete, completeEvent(planned.body.id));
      expect(done.status).toBe(200);
      await fetch(url, { method: 'PUT', headers, body: evil });
      const again = await invoke(complete, completeEvent(planned.body.id));
      const served = Buffer.from(await (await fetch(again.body.url)).arrayBuffer());
      expect(served.includes(EICAR)).toBe(false);
      const read = await invoke(getFile, fileEvent(planned.body.id));
      expect(Buffer.from(await (await fetch(read.body.url)).arrayBuffer()).includes(EICAR)).toBe(false);
    });

    it('a pending plan whose completion met a dead clamd has no URL anywhere', async () => {
      const planned = await planAndPut('wait.txt', 'text/plain', EICAR);
      await useClamd(await closedPort());
      expect((await invoke(complete, completeEvent(planned.body.id))).status).toBe(503);
      expect((await invoke(getFile, fileEvent(planned.body.id))).status).toBe(404);
      const list = await invoke(listFiles, createTestEventV2({ path: '/files', token }));
      expect(JSON.stringify(list.body)).not.toContain(planned.body.id);
      await useClamd(clamd.port);
      expect((await invoke(complete, completeEvent(planned.body.id))).status).toBe(422);
    });
  });
});
