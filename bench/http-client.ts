/**
 * A minimal HTTP client on one keep-alive agent: node:http directly, so the numbers measure
 * the API rather than a client library's per-request overhead (fetch/undici adds its own).
 */
import http from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpRequest {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
}

export interface HttpClient {
  /** `target` is a path on `baseUrl` or an absolute URL (presigned storage links). */
  request(target: string, options?: HttpRequest): Promise<HttpAnswer>;
  close(): void;
}

export function createHttpClient(baseUrl: string): HttpClient {
  // One socket per origin, reused: every timed request pays for the API, not a TCP handshake.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    request: (target, options = {}) =>
      new Promise((resolve, reject) => {
        const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body);
        const headers: Record<string, string | number> = { ...options.headers };
        if (body) headers['Content-Length'] = body.length;
        const request = http.request(new URL(target, baseUrl), { method: options.method ?? 'GET', headers, agent }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** POSTs `body` as JSON and returns the parsed answer; throws unless the status is `expected`. */
export async function postJson<T>(client: HttpClient, path: string, body: unknown, expected: number): Promise<T> {
  const answer = await client.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expectStatus(answer, expected, `POST ${path}`);
  return JSON.parse(answer.body.toString('utf8')) as T;
}

/** Benchmarks of failing requests measure nothing: stop at the first unexpected status. */
export function expectStatus(answer: HttpAnswer, expected: number, what: string): void {
  if (answer.status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
}

/** A multipart/form-data body with one file field, as curl's `-F file=@name` sends it. */
export function multipartFile(field: string, filename: string, contentType: string, content: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----bench${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), content, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
