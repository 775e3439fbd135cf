import type { MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { getConfig } from '../config';
import { HttpError, validationFailed } from './errors';
import { parseMultipart, type MultipartFile, type MultipartForm } from './multipart';

type Middleware = MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>;

/** Validates `value` against `schema`: 422 with a JSON pointer (under `prefix`) per problem. */
function validate(schema: z.ZodType, value: unknown, prefix = ''): unknown {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw validationFailed(
    parsed.error.issues.map((issue) => ({
      pointer: prefix + issue.path.map((part) => `/${String(part).replace(/~/g, '~0').replace(/\//g, '~1')}`).join(''),
      detail: issue.message,
    })),
  );
}

/**
 * JSON body: Middy's parser, then the route's schema. With `optional`, a request without a
 * body is validated as `{}`.
 */
export function jsonBody(schema: z.ZodType, optional = false): Middleware {
  const parser = httpJsonBodyParser() as Middleware;
  return {
    before: async (request) => {
      const { event } = request;
      if (optional && !event.body) (event as { body: unknown }).body = {};
      else await parser.before?.(request);
      (event as { body: unknown }).body = validate(schema, event.body);
    },
  };
}

/** Query string parameters, validated; the result is handed to the handler as `query`. */
export function validQuery(schema: z.ZodType): Middleware {
  return {
    before: async (request) => {
      const event = request.event as APIGatewayProxyEventV2 & { validQuery?: unknown };
      event.validQuery = validate(schema, event.queryStringParameters ?? {}, '/query');
    },
  };
}

/**
 * multipart/form-data body (API Gateway sends it base64 encoded). Files are capped at
 * `MAX_UPLOAD_BYTES`: the parser stops keeping bytes there and marks the file truncated, which
 * {@link requireFile} turns into a 413 instead of storing a cut file.
 */
export function multipartBody(): Middleware {
  return {
    before: async (request) => {
      const { event } = request;
      const raw = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      const form = await parseMultipart(raw, event.headers?.['content-type'], {
        fileSize: getConfig().maxUploadBytes,
        files: 1,
        fields: 20,
      });
      (event as { body: unknown }).body = form;
    },
  };
}

/** The single file a form carries in `field`; 422 if absent, 413 if over the limit. */
export function requireFile(form: MultipartForm, field: string): MultipartFile {
  const file = Object.hasOwn(form, field) ? form[field] : undefined;
  if (file === undefined || typeof file === 'string') {
    throw validationFailed([{ pointer: `/${field}`, detail: `a file is required in the multipart field "${field}"` }]);
  }
  if (file.truncated) {
    throw new HttpError(413, `The file is larger than the ${getConfig().maxUploadBytes}-byte limit (MAX_UPLOAD_BYTES)`);
  }
  if (file.content.length === 0) {
    throw validationFailed([{ pointer: `/${field}`, detail: 'the file is empty' }]);
  }
  return file;
}
