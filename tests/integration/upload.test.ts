import { randomBytes } from 'node:crypto';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as upload } from '../../functions/upload';
import { getDb } from '../../lib/db/connection';
import { createTestEventV2, invoke, multipartBody } from '../helpers/events';
import { pdfBytes, pngBytes } from '../helpers/fixtures';
import { verifyPresignedUrl } from '../helpers/sigv4';
import { resetRuntime, startTestStorage, useFreshDatabase, type TestStorage } from '../helpers/runtime';

let storage: TestStorage;
let token: string;
let userId: string;
const PUBLIC_ENDPOINT = 'http://localhost:{port}';

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  // Presigned URLs must be signed for the public address, not the internal one.
  process.env.S3_PUBLIC_ENDPOINT = PUBLIC_ENDPOINT.replace('{port}', new URL(storage.endpoint).port);
  process.env.MAX_UPLOAD_BYTES = String(64 * 1024);
  process.env.PRESIGNED_URL_EXPIRE_SECONDS = '600';
  await resetRuntime();
  const credentials = { email: 'uploader@example.com', password: 'SecurePassword123!' };
  const created = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  userId = created.body.id;
  token = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
});
afterAll(async () => {
  await resetRuntime();
  await storage.close();
});

function uploadEvent(parts: Parameters<typeof multipartBody>[0], options: { token?: string; contentType?: string } = {}, raw?: Buffer) {
  const built = multipartBody(parts);
  const body = raw ?? built.body;
  const contentType = built.contentType;
  return createTestEventV2({
    method: 'POST',
    path: '/upload',
    token: options.token ?? token,
    headers: { 'content-type': options.contentType ?? contentType },
    binary: body,
  });
}

describe('POST /upload', () => {
  it('stores the bytes, records the file, and returns a presigned download of exactly them', async () => {
    const content = pdfBytes(40_000);
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename: 'document.pdf', contentType: 'application/pdf', content }]));
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      id: expect.any(String),
      filename: 'document.pdf',
      key: `${userId}/${result.body.id}-document.pdf`,
      url: expect.any(String),
      status: 'uploaded',
      scan_status: 'unscanned', // SCANNER=none
    });

    const url = new URL(result.body.url);
    expect(url.origin).toBe(process.env.S3_PUBLIC_ENDPOINT);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(url.searchParams.get('response-content-disposition')).toMatch(/^attachment; filename="document.pdf"/);

    // The storage checks the signature, which covers the host: the URL works only as handed out.
    const download = await fetch(url);
    expect(download.status).toBe(200);
    const internal = await fetch(`${storage.endpoint}${url.pathname}${url.search}`);
    expect([internal.status, await internal.text()]).toEqual([403, expect.stringContaining('<Code>SignatureDoesNotMatch</Code>')]);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment/);
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);

    const row = await getDb().get('SELECT * FROM files WHERE id = ?', result.body.id);
    expect(row).toEqual({
      id: result.body.id,
      owner_id: userId,
      key: result.body.key,
      filename: 'document.pdf',
      size: 40_000,
      content_type: 'application/pdf',
      created_at: expect.stringMatching(/Z$/),
      status: 'stored',
      upload_id: null,
      part_size: null,
      expires_at: null,
      completion_token: null,
      completion_until: null,
      list_seq: 1,
      scan_status: 'unscanned',
    });
  });

  it('signs the URL for the public host it points at (checked here and by the storage)', async () => {
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename: 'a.txt', content: 'hello' }]));
    expect(verifyPresignedUrl(result.body.url, 'S3RVER')).toBe(true);
    const internal = result.body.url.replace(process.env.S3_PUBLIC_ENDPOINT, storage.endpoint);
    expect(verifyPresignedUrl(internal, 'S3RVER')).toBe(false); // a rewritten URL no longer verifies
    expect((await fetch(internal)).status).toBe(403);
    expect(await (await fetch(result.body.url)).text()).toBe('hello');
  });

  it('keeps parallel uploads of one filename apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, index) =>
        invoke(upload, uploadEvent([{ name: 'file', filename: 'same.txt', content: `content ${index}` }])),
      ),
    );
    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(results.map((result) => result.body.key)).size).toBe(5);
  });

  it.each([
    ['../../etc/passwd', 'passwd', '-passwd'],
    ['C:\\Users\\me\\report final.pdf', 'report final.pdf', '-report_final.pdf'],
    ['..hidden', '..hidden', '-hidden'],
    ['résumé.pdf', 'résumé.pdf', '-r_sum_.pdf'],
  ])('sanitizes the filename %j', async (filename, shown, keySuffix) => {
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename, content: 'x' }]));
    expect(result.status).toBe(200);
    expect(result.body.filename).toBe(shown);
    expect(result.body.key).toBe(`${userId}/${result.body.id}${keySuffix}`);
    expect(result.body.key).not.toContain('..');
  });

  it('stores a file with a 400-character name: the key segment stays within 200 bytes and keeps the extension', async () => {
    const filename = `${'long-name-'.repeat(40)}.txt`;
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename, content: 'long' }]));
    expect(result.status).toBe(200);
    const segment = String(result.body.key).split('/').pop() ?? '';
    expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(200);
    expect(segment).toMatch(/^[0-9a-f-]{36}-long-name-.*\.txt$/);
    expect(await (await fetch(result.body.url)).text()).toBe('long');
  });

  it('answers 422 for a name that sanitizes to nothing, a missing file field and an empty file', async () => {
    const nameless = await invoke(upload, uploadEvent([{ name: 'file', filename: '../..', content: 'x' }]));
    expect([nameless.status, nameless.headers['content-type']]).toEqual([422, 'application/problem+json']);
    const wrongField = await invoke(upload, uploadEvent([{ name: 'document', filename: 'a.txt', content: 'x' }]));
    expect(wrongField.status).toBe(422);
    expect(wrongField.body.errors).toEqual([{ pointer: '/file', detail: expect.stringContaining('file') }]);
    const textField = await invoke(upload, uploadEvent([{ name: 'file', content: 'just a field' }]));
    expect(textField.status).toBe(422);
    const empty = await invoke(upload, uploadEvent([{ name: 'file', filename: 'empty.txt', content: '' }]));
    expect(empty.status).toBe(422);
  });

  it('answers 422, not 500, for a file part without a filename', async () => {
    const boundary = 'NoFilenameBoundary';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n--${boundary}--\r\n`,
    );
    const result = await invoke(upload, uploadEvent([], { contentType: `multipart/form-data; boundary=${boundary}` }, body));
    expect(result.status).toBe(422);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(result.body).toMatchObject({ status: 422, errors: [{ pointer: '/file', detail: expect.any(String) }] });
  });

  it('answers 413 instead of storing a truncated file', async () => {
    const before = await countFiles();
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename: 'big.bin', content: randomBytes(64 * 1024 + 1) }]));
    expect(result.status).toBe(413);
    expect(result.body.detail).toContain('MAX_UPLOAD_BYTES');
    expect(await countFiles()).toBe(before);
    const exact = await invoke(upload, uploadEvent([{ name: 'file', filename: 'exact.bin', content: randomBytes(64 * 1024) }]));
    expect(exact.status).toBe(200);
  });

  it('accepts a quoted boundary (RFC 2046) and upper-case media type', async () => {
    const { body, contentType } = multipartBody([{ name: 'file', filename: 'q.txt', content: 'quoted' }]);
    const boundary = contentType.split('boundary=')[1];
    const event = createTestEventV2({
      method: 'POST',
      path: '/upload',
      token,
      headers: { 'content-type': `Multipart/Form-Data; boundary="${boundary}"` },
      binary: body,
    });
    expect((await invoke(upload, event)).status).toBe(200);
  });

  it('answers 415 for a non-multipart body and 400 for a broken one', async () => {
    const json = createTestEventV2({ method: 'POST', path: '/upload', token, json: { file: 'x' } });
    const wrongType = await invoke(upload, json);
    expect([wrongType.status, wrongType.body.detail]).toEqual([415, 'Content-Type must be multipart/form-data']);
    const broken = createTestEventV2({
      method: 'POST',
      path: '/upload',
      token,
      headers: { 'content-type': 'multipart/form-data; boundary=abc' },
      binary: Buffer.from('--abc\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nno end'),
    });
    const result = await invoke(upload, broken);
    expect([result.status, result.headers['content-type']]).toEqual([400, 'application/problem+json']);
  });

  it('checks the bytes against the declared type and stores what they are', async () => {
    const lie = await invoke(upload, uploadEvent([{ name: 'file', filename: 'cat.png', contentType: 'image/png', content: pdfBytes(2000) }]));
    expect([lie.status, lie.body.detail]).toEqual([422, "The file's content is application/pdf, not the declared image/png"]);
    const fake = await invoke(upload, uploadEvent([{ name: 'file', filename: 'cat.png', contentType: 'image/png', content: 'not an image' }]));
    expect(fake.status).toBe(422);
    const png = pngBytes();
    const sniffed = await invoke(upload, uploadEvent([{ name: 'file', filename: 'cat.bin', contentType: 'application/octet-stream', content: png }]));
    expect(sniffed.status).toBe(200);
    const row = await getDb().get('SELECT content_type FROM files WHERE id = ?', sniffed.body.id);
    expect(row).toEqual({ content_type: 'image/png' });
    const text = await invoke(upload, uploadEvent([{ name: 'file', filename: 'notes.txt', contentType: 'text/plain', content: 'plain text' }]));
    expect(text.status).toBe(200);
  });

  it('answers 401 before reading the body when the token is missing', async () => {
    const result = await invoke(upload, uploadEvent([{ name: 'file', filename: 'a.txt', content: 'x' }], { token: '' }));
    expect(result.status).toBe(401);
    expect(result.headers['www-authenticate']).toBe('Bearer');
  });
});

async function countFiles(): Promise<number> {
  return Number((await getDb().get<{ n: number | string }>('SELECT COUNT(*) AS n FROM files'))!.n);
}
