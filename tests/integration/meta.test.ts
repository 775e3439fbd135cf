import { gunzipSync } from 'node:zlib';
import { handler as docs } from '../../functions/docs';
import { handler as health } from '../../functions/health';
import { handler as openapi } from '../../functions/openapi';
import { routes } from '../../functions/routes';
import { createTestEventV2, invoke, lambdaContext } from '../helpers/events';

describe('GET /health', () => {
  it('answers 200 without auth', async () => {
    const result = await invoke(health, createTestEventV2({ path: '/health' }));
    expect([result.status, result.body]).toEqual([200, { status: 'ok' }]);
  });
});

describe('GET /openapi.json', () => {
  it('documents every public route, its body and its errors', async () => {
    const result = await invoke(openapi, createTestEventV2({ path: '/openapi.json' }));
    expect(result.status).toBe(200);
    const doc = result.body;
    expect(doc.openapi).toMatch(/^3\.1\./);
    for (const route of routes.filter((r) => !r.hidden)) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect([route.method, route.path, operation === undefined]).toEqual([route.method, route.path, false]);
      expect(operation.responses['500'].content['application/problem+json']).toBeDefined();
      expect(Boolean(operation.security)).toBe(route.auth);
    }
    expect(doc.paths['/docs/{proxy+}']).toBeUndefined();
    expect(doc.components.schemas.RegisterBody.properties).toMatchObject({
      email: { type: 'string' },
      password: { type: 'string', minLength: 8 },
    });
    expect(doc.paths['/upload'].post.requestBody.content['multipart/form-data']).toBeDefined();
    expect(doc.paths['/auth/login'].post.responses['401'].headers['WWW-Authenticate']).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('documents the abuse protection: 429 with Retry-After, the captcha field, the challenge and the events', async () => {
    const doc = (await invoke(openapi, createTestEventV2({ path: '/openapi.json' }))).body;
    for (const path of ['/auth/login', '/auth/register']) {
      expect(doc.paths[path].post.responses['429'].headers['Retry-After']).toBeDefined();
    }
    for (const body of ['LoginBody', 'RegisterBody']) {
      expect(doc.components.schemas[body].properties.captcha).toMatchObject({ type: 'string', maxLength: 4096 });
      expect(doc.components.schemas[body].required).not.toContain('captcha');
    }
    expect(doc.components.schemas.Problem.properties.captcha_required).toMatchObject({ type: 'boolean' });
    expect(doc.paths['/auth/captcha'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/CaptchaChallenge' });
    const events = doc.paths['/auth/events'].get;
    expect(events.parameters.map((parameter: { name: string }) => parameter.name).sort()).toEqual(['cursor', 'limit']);
    expect(events.responses['422']).toBeDefined();
  });

  it('documents share links: the 302 and its headers, the bodies and their bounds, public /s routes', async () => {
    const doc = (await invoke(openapi, createTestEventV2({ path: '/openapi.json' }))).body;
    const open = doc.paths['/s/{token}'].get;
    expect(open.security).toBeUndefined();
    expect(Object.keys(open.responses).sort()).toEqual(['302', '303', '401', '404', '500']);
    expect(open.responses['303'].headers.Location.description).toBe('/#/s/{token}'); // a browser's page load: the web client's password form
    expect(Object.keys(open.responses['302'].headers).sort()).toEqual(['Cache-Control', 'Location', 'Referrer-Policy']);
    expect(open.responses['302'].content).toBeUndefined();
    expect(open.responses['401'].headers['WWW-Authenticate'].description).toMatch(/SharePassword/);
    const unlock = doc.paths['/s/{token}'].post;
    expect(unlock.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ResolvedShare' });
    expect(unlock.responses['429'].headers['Retry-After']).toBeDefined();
    expect(doc.components.schemas.CreateShareRequest.properties).toMatchObject({
      expires_in: { type: 'integer', minimum: 1, maximum: 2592000, default: 86400 },
      max_downloads: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1000000 }, { type: 'null' }] },
      password: { type: 'string', minLength: 8 },
    });
    expect(doc.paths['/files/{id}/shares'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ShareCreated' });
    expect(doc.paths['/files/{id}/shares/{share_id}'].delete.parameters.map((p: { name: string }) => p.name)).toEqual(['id', 'share_id']);
    expect(JSON.stringify(doc.components.schemas.Share)).not.toMatch(/token/);
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toContain('shares');
  });
});

describe('GET /docs', () => {
  it('serves the Swagger UI page pointing at local assets only, under a CSP', async () => {
    const page = await invoke(docs, createTestEventV2({ path: '/docs', routeKey: 'GET /docs' }));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('/docs/swagger-ui-bundle.js');
    expect(page.body).not.toMatch(/https?:\/\//); // no CDN: works offline
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('serves the bundle, gzipped for clients that accept it', async () => {
    const event = createTestEventV2({
      path: '/docs/swagger-ui-bundle.js',
      routeKey: 'GET /docs/{proxy+}',
      pathParameters: { proxy: 'swagger-ui-bundle.js' },
      headers: { 'accept-encoding': 'gzip, br' },
    });
    const raw = await docs(event, lambdaContext());
    expect(raw.statusCode).toBe(200);
    expect(raw.isBase64Encoded).toBe(true);
    expect(raw.headers?.['Content-Encoding']).toBe('gzip');
    const script = gunzipSync(Buffer.from(raw.body ?? '', 'base64')).toString('utf8');
    expect(script).toContain('SwaggerUIBundle');
  });

  it('answers 404 for anything outside its whitelist, traversal included', async () => {
    for (const proxy of ['../package.json', 'index.html', '..%2F..%2Fetc%2Fpasswd', 'absolute-path.js', 'constructor', '__proto__', 'toString']) {
      const result = await invoke(docs, createTestEventV2({ path: `/docs/${proxy}`, routeKey: 'GET /docs/{proxy+}', pathParameters: { proxy } }));
      expect([proxy, result.status, result.headers['content-type']]).toEqual([proxy, 404, 'application/problem+json']);
    }
  });
});
