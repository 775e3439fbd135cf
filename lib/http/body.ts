import type { MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import httpMultipartBodyParser from '@middy/http-multipart-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { getConfig } from '../config';
import { HttpError, validationFailed } from './errors';

type Middleware = MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>;

/** JSON body: Middy's parser, then the route's schema (422 with a JSON pointer per problem). */
export function jsonBody(schema: z.ZodType): Middleware[] {
  return [
    httpJsonBodyParser() as Middleware,
    {
      before: async (request) => {
        const parsed = schema.safeParse(request.event.body);
        if (!parsed.success) {
          throw validationFailed(
            parsed.error.issues.map((issue) => ({
              pointer: issue.path.map((part) => `/${String(part).replace(/~/g, '~0').replace(/\//g, '~1')}`).join(''),
              detail: issue.message,
            })),
          );
        }
        (request.event as { body: unknown }).body = parsed.data;
      },
    },
  ];
}

export interface MultipartFile {
  readonly filename: string;
  readonly mimetype: string;
  readonly encoding: string;
  readonly truncated: boolean;
  readonly content: Buffer;
}

export type MultipartForm = Readonly<Record<string, MultipartFile | MultipartFile[] | string | string[]>>;

/**
 * Middy's multipart parser accepts only `multipart/form-data; boundary=<letters, digits, ->`
 * exactly. RFC 2046 also allows a quoted boundary, other parameter order and any case of the
 * type (.NET's HttpClient quotes it), so rewrite such headers to the form the parser reads.
 */
export function normalizeMultipartContentType(contentType: string | undefined): string | undefined {
  if (!contentType) return contentType;
  const [type, ...params] = contentType.split(';').map((part) => part.trim());
  if (type?.toLowerCase() !== 'multipart/form-data') return contentType;
  const boundary = params
    .map((param) => /^boundary=(?:"([^"]*)"|(.*))$/i.exec(param))
    .find(Boolean);
  const value = boundary?.[1] ?? boundary?.[2];
  return value === undefined ? contentType : `multipart/form-data; boundary=${value}`;
}

/**
 * multipart/form-data body (API Gateway sends it base64 encoded; the parser decodes it).
 * Files are capped at `MAX_UPLOAD_BYTES`: busboy stops reading there and marks the file
 * truncated, which {@link requireFile} turns into a 413 instead of storing a cut file.
 */
export function multipartBody(): Middleware[] {
  let parser: Middleware | undefined;
  return [
    {
      before: async (request) => {
        const headers = request.event.headers ?? {};
        headers['content-type'] = normalizeMultipartContentType(headers['content-type']);
        request.event.headers = headers;
        parser ??= httpMultipartBodyParser({
          busboy: { limits: { fileSize: getConfig().maxUploadBytes, files: 1, fields: 20, parts: 21 } },
          charset: 'utf8',
        }) as unknown as Middleware;
        await parser.before?.(request);
      },
    },
  ];
}

/** The single file a form carries in `field`; 422 if absent, 413 if over the limit. */
export function requireFile(form: MultipartForm, field: string): MultipartFile {
  const value = form[field];
  const file = Array.isArray(value) ? value[0] : value;
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
