import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { fileTypeFromBuffer } from 'file-type/core';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as deleteFile } from '../../functions/files-delete';
import { handler as complete } from '../../functions/uploads-complete';
import { handler as plan } from '../../functions/uploads-plan';
import { getDb } from '../../lib/db/connection';
import { sweepExpiredUploads } from '../../lib/direct-uploads';
import { STAGING_PREFIX } from '../../lib/storage/keys';
import { createTestEventV2, invoke, type InvokeResult } from '../helpers/events';
import { pngBytes } from '../helpers/fixtures';
import { resetRuntime, startTestStorage, testS3Client, useFreshDatabase, type TestStorage } from '../helpers/runtime';

/**
 * Issue 7 review findings on direct-upload completion: what the still-valid presigned PUT URL
 * can do while and after a completion runs, and what racing completions of one plan answer.
 */
const MiB = 1024 ** 2;
let storage: TestStorage;
let token: string;

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  process.env.MULTIPART_THRESHOLD_BYTES = String(5 * MiB);
  process.env.USER_QUOTA_BYTES = String(100 * MiB);
  await resetRuntime();
  const credentials = { email: 'racer@example.com', password: 'SecurePassword123!' };
  await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  token = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
});
afterAll(async () => {
  await resetRuntime();
  await storage.close();
});

const planUpload = (json: unknown) => invoke(plan, createTestEventV2({ method: 'POST', path: '/uploads', token, json }));
const completeEvent = (id: string, json?: unknown) =>
  createTestEventV2({ method: 'POST', path: `/uploads/${id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id }, token, json });

async function putAsPlanned(planned: InvokeResult, bytes: Buffer): Promise<number> {
  const response = await fetch(planned.body.upload.url, { method: 'PUT', headers: planned.body.upload.headers, body: bytes });
  await response.arrayBuffer();
  return response.status;
}

async function objectKeys(): Promise<string[]> {
  const s3 = testS3Client(storage.endpoint);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
  s3.destroy();
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

function storedRow(id: string): Promise<{ content_type: string; size: number; status: string } | undefined> {
  return getDb().get<{ content_type: string; size: number; status: string }>('SELECT content_type, size, status FROM files WHERE id = ?', id);
}

/** The completion's answer without the download URL, which is signed anew (and timed) per call. */
const withoutUrl = (body: Record<string, unknown>) => ({ ...body, url: typeof body.url === 'string' ? new URL(body.url).pathname : body.url });

describe('completion against a racing PUT URL (type swap)', () => {
  it('never stores bytes that contradict the stored type, whatever the URL writes during completion', async () => {
    const outcomes: number[] = [];
    const bypasses: string[] = [];
    // 30 rounds; on a machine so loaded that every one of them was refused, more rounds whose
    // swaps start later and later, until a completion saw the PNG (see the last assertion).
    for (let round = 0; round < 30 || (!outcomes.includes(200) && round < 60); round += 1) {
      const png = pngBytes(24, 24);
      // Same length, so the signed Content-Length lets it through: HTML the stored type would call a PNG.
      const html = Buffer.concat([Buffer.from('<html><script>alert(document.domain)</script>'), Buffer.alloc(png.length, 32)]).subarray(0, png.length);
      const planned = await planUpload({ filename: `swap-${round}.png`, content_type: 'image/png', size: png.length });
      expect(planned.status).toBe(201);
      expect(await putAsPlanned(planned, png)).toBe(200);

      // The swaps start a little later each round, so some land between the checks and the copy.
      let racing = true;
      const swapper = (async () => {
        await new Promise((resolve) => setTimeout(resolve, round < 30 ? round % 10 : (round - 29) * 25));
        for (let turn = 0; racing; turn += 1) await putAsPlanned(planned, turn % 2 === 0 ? html : png);
      })();
      const result = await invoke(complete, completeEvent(planned.body.id));
      racing = false;
      await swapper;

      outcomes.push(result.status);
      expect([round, [200, 422].includes(result.status)]).toEqual([round, true]);
      if (result.status !== 200) {
        expect(await storedRow(planned.body.id)).toBeUndefined(); // a refused plan is gone
        continue;
      }
      const row = await storedRow(planned.body.id);
      expect(row).toMatchObject({ status: 'stored', content_type: 'image/png', size: png.length });
      const served = Buffer.from(await (await fetch(result.body.url)).arrayBuffer());
      const sniffed = (await fileTypeFromBuffer(served))?.mime;
      if (sniffed !== row?.content_type) bypasses.push(`round ${round}: stored as ${row?.content_type}, serves ${sniffed ?? 'no signature'}`);
    }
    expect(bypasses).toEqual([]);
    // The race has to have been run for real: some completions saw the PNG.
    expect(outcomes).toContain(200);
  }, 120_000);
});

describe('concurrent completions of one plan', () => {
  it('all answer 200 with the same file, never a 500 (single PUT)', async () => {
    for (let round = 0; round < 6; round += 1) {
      const png = pngBytes(16, 16);
      const planned = await planUpload({ filename: `twice-${round}.png`, content_type: 'image/png', size: png.length });
      await putAsPlanned(planned, png);
      const results = await Promise.all(Array.from({ length: 8 }, () => invoke(complete, completeEvent(planned.body.id))));
      expect([round, results.map((result) => result.status)]).toEqual([round, Array(8).fill(200)]);
      const bodies = results.map((result) => withoutUrl(result.body));
      for (const body of bodies) expect(body).toEqual(bodies[0]);
      expect(bodies[0]).toMatchObject({ id: planned.body.id, status: 'uploaded', content_type: 'image/png', size: png.length });
      const served = Buffer.from(await (await fetch(results[0]?.body.url)).arrayBuffer());
      expect(served.equals(png)).toBe(true);
    }
  }, 60_000);

  it('all answer 200 with the same file, never a 410 or 500 (multipart)', async () => {
    const bytes = Buffer.concat([pngBytes(8, 8), Buffer.alloc(6 * MiB)]);
    const planned = await planUpload({ filename: 'parallel.png', content_type: 'image/png', size: bytes.length });
    expect(planned.body.upload.method).toBe('multipart');
    const [part] = planned.body.upload.parts as Array<{ url: string }>;
    const response = await fetch(part?.url ?? '', { method: 'PUT', body: bytes });
    const parts = [{ part_number: 1, etag: response.headers.get('etag') ?? '' }];
    const results = await Promise.all(Array.from({ length: 6 }, () => invoke(complete, completeEvent(planned.body.id, { parts }))));
    expect(results.map((result) => result.status)).toEqual(Array(6).fill(200));
    const bodies = results.map((result) => withoutUrl(result.body));
    for (const body of bodies) expect(body).toEqual(bodies[0]);
  }, 60_000);

  it('all answer a clean 4xx when the upload is a lie, never a 500', async () => {
    const png = pngBytes(16, 16);
    const planned = await planUpload({ filename: 'lie.pdf', content_type: 'application/pdf', size: png.length });
    await putAsPlanned(planned, png);
    const results = await Promise.all(Array.from({ length: 6 }, () => invoke(complete, completeEvent(planned.body.id))));
    for (const result of results) {
      expect(result.status).toBeGreaterThanOrEqual(400);
      expect(result.status).toBeLessThan(500);
      expect(result.headers['content-type']).toBe('application/problem+json');
    }
    expect(results.map((result) => result.status)).toContain(422);
    expect(await storedRow(planned.body.id)).toBeUndefined();
    expect((await objectKeys()).filter((key) => key.includes(planned.body.id))).toEqual([]);
  }, 60_000);
});

describe('the PUT URL after completion', () => {
  it('cannot keep objects past its expiry: the sweep removes what it wrote to the staging key', async () => {
    const png = pngBytes(16, 16);
    const planned = await planUpload({ filename: 'after.png', content_type: 'image/png', size: png.length });
    await putAsPlanned(planned, png);
    const done = await invoke(complete, completeEvent(planned.body.id));
    expect(done.status).toBe(200);
    const staging = `${STAGING_PREFIX}${planned.body.key}`;
    expect(await objectKeys()).not.toContain(staging); // completion removed it

    // The URL is still valid: it writes the staging key again, outside the quota's view.
    expect(await putAsPlanned(planned, Buffer.alloc(png.length, 65))).toBe(200);
    expect(await objectKeys()).toContain(staging);

    await sweepExpiredUploads(new Date()); // the URL still works: nothing to gain yet
    const expired = new Date(Date.now() + (planned.body.expires_in + 3600) * 1000);
    await sweepExpiredUploads(expired);
    const keys = await objectKeys();
    expect(keys).not.toContain(staging);
    expect(keys).toContain(planned.body.key); // the stored file is untouched
    const served = Buffer.from(await (await fetch(done.body.url)).arrayBuffer());
    expect(served.equals(png)).toBe(true);
    await sweepExpiredUploads(expired); // and a second sweep has nothing left to do
  });

  it('cannot keep objects either after its plan was refused or its file deleted', async () => {
    const png = pngBytes(16, 16);
    const refused = await planUpload({ filename: 'refused.pdf', content_type: 'application/pdf', size: png.length });
    await putAsPlanned(refused, png);
    expect((await invoke(complete, completeEvent(refused.body.id))).status).toBe(422);
    const deleted = await planUpload({ filename: 'deleted.png', content_type: 'image/png', size: png.length });
    await putAsPlanned(deleted, png);
    expect((await invoke(complete, completeEvent(deleted.body.id))).status).toBe(200);
    const id = deleted.body.id as string;
    const removal = createTestEventV2({ method: 'DELETE', path: `/files/${id}`, routeKey: 'DELETE /files/{id}', pathParameters: { id }, token });
    expect((await invoke(deleteFile, removal)).status).toBe(204);

    const staging = [refused, deleted].map((planned) => `${STAGING_PREFIX}${planned.body.key}`);
    for (const planned of [refused, deleted]) expect(await putAsPlanned(planned, png)).toBe(200);
    expect(await objectKeys()).toEqual(expect.arrayContaining(staging));
    await sweepExpiredUploads(new Date(Date.now() + 3 * 3600_000));
    expect((await objectKeys()).filter((key) => staging.includes(key))).toEqual([]);
  });

  it('sweeps staging leftovers in batches', async () => {
    const plans: InvokeResult[] = [];
    for (let index = 0; index < 5; index += 1) {
      const png = pngBytes(8, 8);
      const planned = await planUpload({ filename: `batch-${index}.png`, content_type: 'image/png', size: png.length });
      await putAsPlanned(planned, png);
      expect((await invoke(complete, completeEvent(planned.body.id))).status).toBe(200);
      await putAsPlanned(planned, png);
      plans.push(planned);
    }
    const expired = new Date(Date.now() + 3 * 3600_000);
    const stagingKeys = plans.map((planned) => `${STAGING_PREFIX}${planned.body.key}`);
    await sweepExpiredUploads(expired, 2);
    const left = (await objectKeys()).filter((key) => stagingKeys.includes(key)).length;
    expect(left).toBe(3);
    await sweepExpiredUploads(expired, 2);
    await sweepExpiredUploads(expired, 2);
    expect((await objectKeys()).filter((key) => stagingKeys.includes(key))).toEqual([]);
  });
});

describe('the PUT URL and the quota', () => {
  // Each round: the plan is refused (or its file deleted), which frees its quota, and its still-valid
  // URL writes the staging key again. Without counting those bytes, a user keeps any multiple of
  // USER_QUOTA_BYTES in storage until the URLs expire (up to 7 days with PRESIGNED_URL_EXPIRE_SECONDS).
  const quota = 1024 * 1024;
  const size = 600 * 1024;
  let owner: string;
  beforeAll(async () => {
    process.env.USER_QUOTA_BYTES = String(quota);
    await resetRuntime();
    const credentials = { email: 'hoarder@example.com', password: 'SecurePassword123!' };
    await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    owner = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
  });
  // Whatever a test left (plans, leftovers) is past its expiry for the next one.
  afterEach(() => sweepExpiredUploads(new Date(Date.now() + 3 * 3600_000)));
  afterAll(async () => {
    process.env.USER_QUOTA_BYTES = String(100 * MiB);
    await resetRuntime();
  });
  const planAs = (json: unknown) => invoke(plan, createTestEventV2({ method: 'POST', path: '/uploads', token: owner, json }));
  const completeAs = (id: string) =>
    invoke(complete, createTestEventV2({ method: 'POST', path: `/uploads/${id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id }, token: owner }));
  const png = () => Buffer.concat([pngBytes(8, 8), Buffer.alloc(size)]).subarray(0, size);

  it('counts what a refused plan\'s URL can still write until the URL expires', async () => {
    const refused = await planAs({ filename: 'a.pdf', content_type: 'application/pdf', size });
    expect(refused.status).toBe(201);
    await putAsPlanned(refused, png());
    expect((await completeAs(refused.body.id)).status).toBe(422);
    expect(await putAsPlanned(refused, png())).toBe(200); // outside any listing, still in storage

    const next = await planAs({ filename: 'b.png', content_type: 'image/png', size });
    expect([next.status, next.headers['content-type']]).toEqual([413, 'application/problem+json']);

    await sweepExpiredUploads(new Date(Date.now() + 3 * 3600_000)); // the URL is dead and its key swept
    expect((await planAs({ filename: 'c.png', content_type: 'image/png', size })).status).toBe(201);
  });

  it('counts what a deleted file\'s URL can still write until the URL expires', async () => {
    const planned = await planAs({ filename: 'd.png', content_type: 'image/png', size });
    expect(planned.status).toBe(201);
    await putAsPlanned(planned, png());
    expect((await completeAs(planned.body.id)).status).toBe(200);
    const id = planned.body.id as string;
    const removal = createTestEventV2({ method: 'DELETE', path: `/files/${id}`, routeKey: 'DELETE /files/{id}', pathParameters: { id }, token: owner });
    expect((await invoke(deleteFile, removal)).status).toBe(204);
    expect(await putAsPlanned(planned, png())).toBe(200);

    expect((await planAs({ filename: 'e.png', content_type: 'image/png', size })).status).toBe(413);
    await sweepExpiredUploads(new Date(Date.now() + 3 * 3600_000));
    expect((await planAs({ filename: 'f.png', content_type: 'image/png', size })).status).toBe(201);
  });
});

describe('racing plans against the quota', () => {
  // The quota check and the pending row are one transaction: SQLite's single writer, PostgreSQL's
  // SERIALIZABLE (a conflict is retried). Racing plans that each fit alone must not together
  // overshoot it, nor answer 500 (a list_seq or serialization conflict surfacing).
  const quota = 1024 * 1024;
  let racer: string;
  beforeAll(async () => {
    process.env.USER_QUOTA_BYTES = String(quota);
    await resetRuntime();
    const credentials = { email: 'quota-racer@example.com', password: 'SecurePassword123!' };
    await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    racer = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
  });
  afterEach(() => sweepExpiredUploads(new Date(Date.now() + 3 * 3600_000)));
  afterAll(async () => {
    process.env.USER_QUOTA_BYTES = String(100 * MiB);
    await resetRuntime();
  });
  const planAs = (json: unknown) => invoke(plan, createTestEventV2({ method: 'POST', path: '/uploads', token: racer, json }));

  it.each([
    ['one fits', 600 * 1024, 1],
    ['three fit', 300 * 1024, 3],
  ])('%s: exactly that many of 10 racing plans get 201, the rest 413', async (_, size, fit) => {
    const results = await Promise.all(Array.from({ length: 10 }, (_unused, index) => planAs({ filename: `race-${index}.png`, content_type: 'image/png', size })));
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([...Array(fit).fill(201), ...Array(10 - fit).fill(413)]);
    const pending = await getDb().get<{ n: number | string; used: number | string | null }>(
      "SELECT COUNT(*) AS n, SUM(size) AS used FROM files WHERE status = 'pending' AND id IN (" + results.map(() => '?').join(', ') + ')',
      ...results.map((result) => String(result.body.id ?? '')),
    );
    expect([Number(pending!.n), Number(pending!.used)]).toEqual([fit, fit * size]);
    // Their places in the owner's list are distinct (list_seq is assigned in the same transaction).
    const winner = String(results.find((result) => result.status === 201)?.body.id);
    const seqs = await getDb().all<{ list_seq: number }>('SELECT list_seq FROM files WHERE owner_id = (SELECT owner_id FROM files WHERE id = ?)', winner);
    expect(seqs.length).toBeGreaterThanOrEqual(fit);
    expect(new Set(seqs.map((row) => Number(row.list_seq))).size).toBe(seqs.length);
  });
});

describe('completion against the sweep', () => {
  /**
   * Runs `check` against the database until it holds (the completion runs meanwhile), or until
   * `completion` has finished: then there is nothing left to race, and the round checks its answer.
   */
  async function until(check: () => Promise<boolean>, completion: Promise<unknown>): Promise<void> {
    let finished = false;
    void completion.finally(() => (finished = true)).catch(() => undefined);
    while (!finished && !(await check())) await new Promise((resolve) => setImmediate(resolve));
  }

  it('a plan expiring under a completion in progress answers 200 or 410, never a 500 or "nothing uploaded"', async () => {
    const outcomes: Array<[number, number]> = [];
    for (let round = 0; round < 12; round += 1) {
      const png = pngBytes(24, 24);
      // Declared octet-stream, so the completion also rewrites the verified object's type.
      const planned = await planUpload({ filename: `late-${round}.bin`, content_type: 'application/octet-stream', size: png.length });
      expect(await putAsPlanned(planned, png)).toBe(200);
      const id = planned.body.id as string;
      const completion = invoke(complete, completeEvent(id));
      await until(async () => (await getDb().get<{ completion_token: string | null }>('SELECT completion_token FROM files WHERE id = ?', id))?.completion_token != null, completion);
      await new Promise((resolve) => setTimeout(resolve, round % 6));
      // The plan's last second passes while the completion works, and the scheduled sweep runs.
      await getDb().run(`UPDATE files SET expires_at = '2000-01-01T00:00:00Z' WHERE id = ? AND status = 'pending'`, id);
      await sweepExpiredUploads();
      const result = await completion;
      outcomes.push([round, result.status]);

      await sweepExpiredUploads(); // whatever the completion left is swept now
      const left = (await objectKeys()).filter((key) => key.includes(id));
      if (result.status === 200) {
        expect(await storedRow(id)).toMatchObject({ status: 'stored', content_type: 'image/png' });
        expect(left).toEqual([planned.body.key]);
        const served = Buffer.from(await (await fetch(result.body.url)).arrayBuffer());
        expect(served.equals(png)).toBe(true);
      } else {
        expect(await storedRow(id)).toBeUndefined();
        expect(left).toEqual([]);
      }
    }
    expect(outcomes.filter(([, status]) => status !== 200 && status !== 410)).toEqual([]);
  }, 60_000);
});
