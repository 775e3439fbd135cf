import type { Route } from '../functions/routes';
import { titleFor } from './http/errors';
import { Problem } from './response-schemas';
import * as z from './zod';

interface JsonSchema {
  [key: string]: unknown;
  properties?: Record<string, unknown>;
}

/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas, so that the
 * contract, the validation and the docs cannot drift apart.
 */
export function buildOpenApiDocument(routes: readonly Route[]): object {
  const components: Record<string, JsonSchema> = {};

  /**
   * Named schemas (`meta(schema, { id })`) go to components and are referenced; others are inlined.
   * Zod emits named schemas as `$defs`; they move to `components.schemas`.
   */
  const ref = (schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema => {
    const emitted = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    const { $schema: _schema, $defs, ...json } = JSON.parse(
      JSON.stringify(emitted).replaceAll('"#/$defs/', '"#/components/schemas/'),
    ) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, definition] of Object.entries($defs ?? {})) components[id] ??= definition;
    return json;
  };
  const problem = ref(Problem, 'output');

  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    if (route.hidden) continue;
    const { docs } = route;
    const responses: Record<string, object> = {};
    for (const [status, response] of Object.entries(docs.responses)) {
      const contentType = response.contentType ?? 'application/json';
      responses[status] = {
        description: response.description,
        ...(response.headers
          ? { headers: Object.fromEntries(Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) }
          : {}),
        ...(response.schema ? { content: { [contentType]: { schema: ref(response.schema, 'output') } } } : {}),
      };
    }
    for (const status of [...(docs.errors ?? []), 500]) {
      responses[String(status)] = {
        description: titleFor(status),
        content: { 'application/problem+json': { schema: problem } },
        ...(status === 401
          ? {
              headers: {
                'WWW-Authenticate': {
                  description: route.path.startsWith('/s/')
                    ? 'SharePassword challenge: send the password in the body of POST /s/{token}'
                    : 'Bearer challenge (RFC 6750)',
                  schema: { type: 'string' },
                },
              },
            }
          : {}),
        ...(status === 429
          ? { headers: { 'Retry-After': { description: 'seconds until the failure window ends', schema: { type: 'integer' } } } }
          : {}),
      };
    }
    let requestBody: object | undefined;
    if (docs.request && 'json' in docs.request) {
      requestBody = { required: !docs.request.optional, content: { 'application/json': { schema: ref(docs.request.json, 'input') } } };
    } else if (docs.request) {
      requestBody = { required: true, content: { 'multipart/form-data': { schema: ref(docs.request.multipart, 'input') } } };
    }
    const parameters = [
      ...[...route.path.matchAll(/\{(\w+)\}/g)].map((match) => ({ name: match[1], in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries((docs.query ? ref(docs.query, 'input').properties : undefined) ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema,
      })),
    ];
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      operationId: route.handler.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
      summary: docs.summary,
      tags: [docs.tag],
      ...(route.auth ? { security: [{ bearerAuth: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Secure File Upload API',
      version: '1.0.0',
      description:
        'JWT-authenticated file uploads to S3-compatible storage. Errors are RFC 9457 application/problem+json.',
    },
    tags: [
      { name: 'auth', description: 'Accounts and tokens' },
      { name: 'files', description: 'Uploads and downloads' },
      { name: 'shares', description: 'Share links: revocable, expiring links to a file, for people without an account' },
      { name: 'meta', description: 'Health and documentation' },
    ],
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
