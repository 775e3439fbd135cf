import http from 'node:http';
import { routes } from '../../functions/routes';
import { isTextContentType } from '../../infra/local/event';
import { startApiServer } from '../../infra/local/server';
import { appOrigins } from '../../infra/local/runtime';
import { Router } from '../../infra/local/routing';
import { multipartBoundary } from '../../lib/http/multipart';

describe('API Gateway body encoding', () => {
  it.each([
    ['application/json', true],
    ['application/problem+json; charset=utf-8', true],
    ['text/plain', true],
    ['application/xml', true],
    ['image/svg+xml', true],
    ['application/javascript', true],
    ['multipart/form-data; boundary=x', false],
    ['application/octet-stream', false],
    ['image/png', false],
    [undefined, false],
  ])('%s is text: %s', (type, text) => {
    expect(isTextContentType(type)).toBe(text);
  });
});

describe('local router', () => {
  const router = new Router(routes);
  it('matches every route in the table by its own method and path', () => {
    for (const route of routes) {
      const path = route.path.replace('{proxy+}', 'a/b.js');
      expect(router.match(route.method, path)?.route).toBe(route);
    }
  });
  it('gives greedy path parameters and rejects other methods', () => {
    expect(router.match('GET', '/docs/swagger-ui.css')?.pathParameters).toEqual({ proxy: 'swagger-ui.css' });
    expect(router.match('GET', '/docs')?.routeKey).toBe('GET /docs');
    expect(router.match('PUT', '/auth/me')).toBeUndefined();
    expect(router.match('GET', '/nope')).toBeUndefined();
  });
});

describe('multipart boundaries', () => {
  it.each([
    ['multipart/form-data; boundary=abc-123', 'abc-123'],
    ['Multipart/Form-Data; BOUNDARY="quoted boundary=+"', 'quoted boundary=+'],
    ['multipart/form-data; charset=utf-8; boundary=x', 'x'],
    ['multipart/form-data', undefined],
    ['application/json', undefined],
  ])('%s -> %s', (header, boundary) => {
    expect(multipartBoundary(header)).toBe(boundary);
  });
});

describe('API Gateway emulation', () => {
  it('answers malformed paths, unknown routes and oversize bodies as API Gateway does, without a handler', async () => {
    const server = await startApiServer({ host: '127.0.0.1', port: 0, corsOrigins: [] });
    try {
      const malformed = await fetch(`${server.url}/files/%E0%A4%A`);
      expect([malformed.status, await malformed.json()]).toEqual([400, { message: 'Bad Request' }]);
      const unknown = await fetch(`${server.url}/nope?constructor=x`);
      expect([unknown.status, await unknown.json()]).toEqual([404, { message: 'Not Found' }]);
      const tooLarge = await fetch(`${server.url}/auth/login`, { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024 + 1) });
      expect([tooLarge.status, await tooLarge.json()]).toEqual([413, { message: 'Request Entity Too Large' }]);
    } finally {
      await server.close();
    }
  });
});

/** One request with the request target exactly as written (fetch and curl would normalize it). */
const rawRequest = (url: string, target: string) =>
  new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const request = http.request({ host: hostname, port, path: target, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: response.headers['content-type'], body }));
    });
    request.on('error', reject);
    request.end();
  });

describe('request targets starting with //', () => {
  // Attack: `GET //` made `new URL('//', base)` throw (an authority with no host), a 500 from
  // the runtime that serves the web client; `GET //anything/files` was read as host
  // `anything` and path `/files`, so any path could reach the page or another route. A path
  // is a path: `//` and `//x/files` match no route and answer the gateway's 404 JSON.
  it('answers 404 JSON, never 500, and never reads the first segment as a host', async () => {
    const server = await startApiServer({ host: '127.0.0.1', port: 0, corsOrigins: [] });
    try {
      for (const target of ['//', '///', '//evil.example/', '//evil.example/health', '//@/']) {
        const answer = await rawRequest(server.url, target);
        expect([target, answer.status, answer.type, answer.body]).toEqual([target, 404, 'application/json', '{"message":"Not Found"}']);
      }
    } finally {
      await server.close();
    }
  });
});

describe('appOrigins', () => {
  it("lists the web client's origins: the API URL, APP_URL, and both names of a loopback address", () => {
    expect(appOrigins('http://127.0.0.1:8000', undefined).sort()).toEqual(['http://127.0.0.1:8000', 'http://[::1]:8000', 'http://localhost:8000']);
    expect(appOrigins('http://10.0.0.5:8000', 'https://files.example.com/').sort()).toEqual(['http://10.0.0.5:8000', 'https://files.example.com']);
  });
});
