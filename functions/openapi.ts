import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { buildOpenApiDocument } from '../lib/openapi';
import { routes } from './routes';

let document: object | undefined;

/** GET /openapi.json: generated from the route table and its schemas, once per container. */
export const handler = httpHandler({}, () => {
  document ??= buildOpenApiDocument(routes);
  return ok(document, { 'Cache-Control': 'public, max-age=300' });
});
