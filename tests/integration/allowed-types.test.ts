import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as upload } from '../../functions/upload';
import { handler as complete } from '../../functions/uploads-complete';
import { handler as plan } from '../../functions/uploads-plan';
import { createTestEventV2, invoke, multipartBody } from '../helpers/events';
import { pdfBytes, pngBytes } from '../helpers/fixtures';
import { resetRuntime, startTestStorage, testS3Client, useFreshDatabase, type TestStorage } from '../helpers/runtime';

/**
 * ALLOWED_CONTENT_TYPES (SPEC "Types"): an entry is an exact type or `family/*`; a file passes
 * only if its sniffed type matches an entry or, for content with no signature, its declared
 * type is a text type that matches one. A wildcard must not turn into "any bytes, if declared
 * with the right family" (issue 7 review).
 */
let storage: TestStorage;
let token: string;

/** A ZIP archive as any sniffer sees it: a local file header for `a.txt`. */
const zipBytes = (): Buffer =>
  Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0]), Buffer.from('a.txthello'), Buffer.alloc(200)]);
/** An OLE compound file (old Office formats, MSI) as a sniffer sees it. */
const oleBytes = (): Buffer => Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(600)]);

async function allow(types: string | undefined): Promise<void> {
  if (types === undefined) delete process.env.ALLOWED_CONTENT_TYPES;
  else process.env.ALLOWED_CONTENT_TYPES = types;
  await resetRuntime();
}

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  await resetRuntime();
  const credentials = { email: 'types@example.com', password: 'SecurePassword123!' };
  await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  token = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
});
afterAll(async () => {
  await allow(undefined);
  await storage.close();
});

async function uploadAs(filename: string, contentType: string, content: Buffer | string) {
  const { body, contentType: header } = multipartBody([{ name: 'file', filename, contentType, content }]);
  return invoke(upload, createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': header }, binary: body }));
}

async function directAs(filename: string, contentType: string, content: Buffer) {
  const planned = await invoke(plan, createTestEventV2({ method: 'POST', path: '/uploads', token, json: { filename, content_type: contentType, size: content.length } }));
  if (planned.status !== 201) return planned;
  const put = await fetch(planned.body.upload.url, { method: 'PUT', headers: planned.body.upload.headers, body: content });
  expect(put.status).toBe(200);
  const id = planned.body.id as string;
  return invoke(complete, createTestEventV2({ method: 'POST', path: `/uploads/${id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id }, token }));
}

async function objectKeys(): Promise<string[]> {
  const s3 = testS3Client(storage.endpoint);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
  s3.destroy();
  return (listed.Contents ?? []).map((object) => object.Key ?? '').filter((key) => !key.startsWith('staging/'));
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

type Case = readonly [allowed: string, filename: string, declared: string, status: number, content: () => Buffer];

const CASES: readonly Case[] = [
  // A wildcard admits what the bytes prove...
  ['image/*', 'cat.png', 'image/png', 200, () => pngBytes()],
  ['image/*', 'cat.bin', 'application/octet-stream', 200, () => pngBytes()],
  ['image/*,text/*', 'notes.txt', 'text/plain', 200, () => Buffer.from('plain text')],
  ['text/*', 'data.csv', 'text/csv', 200, () => Buffer.from('a,b\n1,2\n')],
  ['application/*', 'data.json', 'application/json', 200, () => Buffer.from('{"a":1}')],
  ['application/*', 'feed.atom', 'application/atom+xml', 200, () => Buffer.from('<feed/>')],
  // ...not bytes without a signature under a declared type of its family.
  ['image/*', 'x.img', 'image/x-anything', 415, () => Buffer.from('<html><script>alert(1)</script></html>')],
  ['image/*', 'x.svg', 'image/svg+xml', 415, () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')],
  ['application/*', 'x.bin', 'application/x-anything', 415, () => Buffer.from('opaque bytes, no signature')],
  ['image/*', 'x.bin', 'application/octet-stream', 415, () => Buffer.from('no signature at all')],
  ['image/*,text/*', 'data.json', 'application/json', 415, () => Buffer.from('{"a":1}')],
  ['text/*', 'doc.pdf', 'application/pdf', 415, () => pdfBytes(500)],
  // An exact entry admits a text type outside the text families, and only that type.
  ['image/svg+xml', 'logo.svg', 'image/svg+xml', 200, () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')],
  ['image/svg+xml', 'logo.img', 'image/x-svg-ish', 415, () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')],
  // Containers: only real ZIP- or OLE-based formats may stand for a ZIP or OLE file.
  ['image/*', 'x.png', 'image/x-openxmlformats', 422, () => zipBytes()],
  ['image/*', 'x.png', 'image/vnd.oasis.opendocument.image-ish', 422, () => zipBytes()],
  ['image/*', 'x.png', 'image/x-msword', 422, () => oleBytes()],
  ['application/*', 'x.docx', 'application/x-openxmlformats-evil', 422, () => zipBytes()],
  ['application/*', 'x.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 200, () => zipBytes()],
  ['application/msword', 'x.doc', 'application/msword', 200, () => oleBytes()],
  ['image/*', 'x.zip', 'application/zip', 415, () => zipBytes()],
  // XML: a declaration (`<?xml ...?>`) is all a sniffer sees of any XML-based format, optional
  // in all of them, and proof of none: such files pass and fail exactly as without it.
  ['image/svg+xml', 'logo.svg', 'image/svg+xml', 200, () => Buffer.from(`${XML_DECLARATION}<svg xmlns="http://www.w3.org/2000/svg"/>`)],
  ['image/*', 'logo.svg', 'image/svg+xml', 415, () => Buffer.from(`${XML_DECLARATION}<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)],
  ['text/*', 'data.xml', 'text/xml', 200, () => Buffer.from(`${XML_DECLARATION}<a/>`)],
  ['application/*', 'feed.atom', 'application/atom+xml', 200, () => Buffer.from(`${XML_DECLARATION}<feed/>`)],
  ['application/*', 'data.xml', 'application/xml', 200, () => Buffer.from('<a/>')],
  ['application/xml', 'data.xml', 'application/xml', 200, () => Buffer.from(`${XML_DECLARATION}<a/>`)],
  ['image/*', 'x.png', 'image/png', 422, () => Buffer.from(`${XML_DECLARATION}<a/>`)],
];

describe.each([
  ['POST /upload', uploadAs],
  ['direct upload', directAs],
] as const)('ALLOWED_CONTENT_TYPES through %s', (_path, send) => {
  it.each(CASES)('with %s, %s declared %s answers %s', async (allowed, filename, declared, status, content) => {
    await allow(allowed);
    const before = await objectKeys();
    const result = await send(filename, declared, content());
    expect([result.status, result.status === 200 ? '' : result.headers['content-type']]).toEqual([status, status === 200 ? '' : 'application/problem+json']);
    if (status !== 200) expect(await objectKeys()).toEqual(before); // nothing refused is kept
  });
});
