import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import { routes } from '../../functions/routes';
import { toApiGatewayEvent } from '../../infra/local/event';
import { Router } from '../../infra/local/routing';
import { startApiServer, type ApiServer } from '../../infra/local/server';
import { LAMBDA_MAX_PAYLOAD_BYTES } from '../../lib/config';
import { multipartBody } from '../helpers/events';
import { resetRuntime, startTestStorage, useFreshDatabase, type TestStorage } from '../helpers/runtime';

let storage: TestStorage;
let api: ApiServer;
let token: string;
const accessLog: string[] = [];

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  await resetRuntime();
  api = await startApiServer({ host: '127.0.0.1', port: 0, corsOrigins: [], log: (line) => accessLog.push(line) });
  const credentials = { email: 'local-server@example.com', password: 'SecurePassword123!' };
  const post = (path: string) => fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });
  expect((await post('/auth/register')).status).toBe(201);
  token = ((await (await post('/auth/login')).json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await api.close();
  await resetRuntime();
  await storage.close();
});

interface Answer {
  readonly status: number;
  readonly type: string | undefined;
  readonly body: string;
}

/** A request with exactly these headers (node:http adds none of its own here) and body. */
function send(path: string, headers: Record<string, string>, body: Buffer | Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: api.port, path, method: 'POST', headers, agent: false, setHost: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: response.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    for (const piece of Array.isArray(body) ? body : [body]) request.write(piece);
    request.end();
  });
}

describe("Lambda's payload limit in the local runtime", () => {
  it('passes an event of exactly 6,291,456 bytes of JSON to the function and answers 413 for one byte more', async () => {
    // A body whose base64 leaves about 2 KB of the limit for the rest of the event; a padding
    // header then brings the event's JSON to the limit exactly, or one byte over it.
    const body = Buffer.alloc(((LAMBDA_MAX_PAYLOAD_BYTES - 2048) / 4) * 3, 0xa5);
    const headers = (pad: number) => ({
      host: `127.0.0.1:${api.port}`,
      connection: 'close',
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      'x-pad': 'p'.repeat(pad),
    });
    // The event the server will build, from the same headers, to measure the way the limit is defined.
    const match = new Router(routes).match('POST', '/upload');
    if (!match) throw new Error('no POST /upload route');
    const request = { url: '/upload', method: 'POST', httpVersion: '1.1', headers: headers(0), socket: { remoteAddress: '127.0.0.1', localPort: api.port } };
    const withoutPad = Buffer.byteLength(JSON.stringify(toApiGatewayEvent(request as unknown as IncomingMessage, body, match, randomUUID())));
    const pad = LAMBDA_MAX_PAYLOAD_BYTES - withoutPad;
    expect(pad).toBeGreaterThan(0);

    // A larger body first, so that the next ones are read into a reused, larger buffer.
    const larger = Buffer.alloc(body.length + 100_000);
    expect((await send('/upload', { ...headers(0), 'content-length': String(larger.length) }, larger)).status).toBe(413);

    const atLimit = await send('/upload', headers(pad), body);
    // The function ran: it refuses the missing token, before reading the body.
    expect([atLimit.status, atLimit.type]).toEqual([401, 'application/problem+json']);
    const over = await send('/upload', headers(pad + 1), body);
    expect([over.status, over.type]).toEqual([413, 'application/problem+json']);
    expect(JSON.parse(over.body)).toMatchObject({ status: 413, detail: expect.stringContaining(String(LAMBDA_MAX_PAYLOAD_BYTES)) });
  });
});

describe('large bodies in the local runtime', () => {
  async function upload(content: Buffer, chunked = false): Promise<string> {
    const form = multipartBody([{ name: 'file', filename: 'big.bin', content }]);
    const headers: Record<string, string> = { host: `127.0.0.1:${api.port}`, authorization: `Bearer ${token}`, 'content-type': form.contentType };
    // Chunked: no Content-Length, so the body cannot go into a buffer sized in advance.
    const pieces = chunked ? [form.body.subarray(0, 300_000), form.body.subarray(300_000)] : form.body;
    if (chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(form.body.length);
    const answer = await send('/upload', headers, pieces);
    expect([answer.status, answer.body.slice(0, 200)]).toEqual([200, expect.any(String)]);
    return (JSON.parse(answer.body) as { url: string }).url;
  }
  const stored = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

  it('stores each of several concurrent uploads with its own bytes', async () => {
    const contents = [1.1, 2.5, 1.6, 3.2].map((mib) => randomBytes(Math.round(mib * 1024 * 1024)));
    const urls = await Promise.all(contents.map((content) => upload(content)));
    for (const [index, url] of urls.entries()) expect((await stored(url)).equals(contents[index] as Buffer)).toBe(true);
  });

  it('stores a body smaller than the one before it, and a chunked one, intact', async () => {
    const large = randomBytes(3 * 1024 * 1024);
    const small = randomBytes(1024 * 1024 + 17);
    const chunked = randomBytes(2 * 1024 * 1024 + 5);
    const [first, second, third] = [await upload(large), await upload(small), await upload(chunked, true)];
    expect((await stored(first)).equals(large)).toBe(true);
    expect((await stored(second)).equals(small)).toBe(true);
    expect((await stored(third)).equals(chunked)).toBe(true);
  });
});

describe('access log', () => {
  it('names the route key, never the raw path, and the request id the problem shows', async () => {
    const id = randomUUID();
    const response = await fetch(`${api.url}/files/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(404);
    const problem = (await response.json()) as { instance: string };
    await new Promise((resolve) => setTimeout(resolve, 50)); // the line is written on 'finish'
    const line = accessLog.find((entry) => entry.includes(problem.instance));
    expect(line).toMatch(new RegExp(`^GET /files/\\{id\\} 404 \\d+\\.\\dms ${problem.instance}$`));
    expect(accessLog.join('\n')).not.toContain(id);
  });
});

describe('share links through the local runtime', () => {
  it('routes /s/{token} like API Gateway, redirects to the file, and logs the route key, never the token', async () => {
    const content = randomBytes(3000);
    const form = multipartBody([{ name: 'file', filename: 'shared.bin', content }]);
    const uploaded = await fetch(`${api.url}/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': form.contentType },
      body: form.body,
    });
    expect(uploaded.status).toBe(200);
    const { id } = (await uploaded.json()) as { id: string };
    const created = await fetch(`${api.url}/files/${id}/shares`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ max_downloads: 1 }),
    });
    expect(created.status).toBe(201);
    const shareUrl = ((await created.json()) as { url: string }).url;
    const shareToken = shareUrl.split('/s/')[1] ?? '';
    expect(shareToken).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const opened = await fetch(`${api.url}/s/${shareToken}`, { redirect: 'manual' });
    expect(opened.status).toBe(302);
    expect(opened.headers.get('cache-control')).toBe('no-store');
    expect(opened.headers.get('referrer-policy')).toBe('no-referrer');
    const download = await fetch(opened.headers.get('location') ?? '');
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
    const again = await fetch(`${api.url}/s/${shareToken}`, { redirect: 'manual' });
    expect(again.status).toBe(404); // used up
    expect(again.headers.get('content-type')).toBe('application/problem+json');

    // Paths that are no share route answer as API Gateway does, before any function runs.
    const nested = await fetch(`${api.url}/s/${shareToken}/more`);
    expect([nested.status, await nested.json()]).toEqual([404, { message: 'Not Found' }]);
    expect((await fetch(`${api.url}/s/%zz`)).status).toBe(400);
    expect((await fetch(`${api.url}/s/`)).status).toBe(404);

    await new Promise((resolve) => setTimeout(resolve, 50)); // lines are written on 'finish'
    expect(accessLog.filter((line) => line.startsWith('GET /s/{token} '))).toHaveLength(2);
    expect(accessLog.join('\n')).not.toContain(shareToken);
  });
});
