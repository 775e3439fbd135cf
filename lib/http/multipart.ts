import Busboy, { type BusboyInstance } from '@fastify/busboy';
import { HttpError } from './errors';

export interface MultipartFile {
  readonly filename: string;
  readonly mimetype: string;
  readonly encoding: string;
  readonly truncated: boolean;
  readonly content: Buffer;
}

export type MultipartForm = Readonly<Record<string, MultipartFile | string>>;

export interface MultipartLimits {
  readonly fileSize: number;
  readonly files: number;
  readonly fields: number;
}

/**
 * RFC 2046 allows a quoted boundary, parameters in any order and any case of the media type
 * (.NET's HttpClient quotes the boundary). Returns the boundary, or undefined when the header
 * is not multipart/form-data at all.
 */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  const [type, ...params] = (contentType ?? '').split(';').map((part) => part.trim());
  if (type?.toLowerCase() !== 'multipart/form-data') return undefined;
  for (const param of params) {
    const match = /^boundary=(?:"([^"]{1,70})"|([^\s";]{1,70}))$/i.exec(param);
    if (match) return match[1] ?? match[2];
  }
  return undefined;
}

/**
 * The chunks as one buffer. busboy hands out a file's bytes as consecutive slices of the
 * buffer it was given; when they are, the file is that stretch of `whole`, shared rather than
 * copied (a copy of a 4 MiB file costs milliseconds, mostly in fresh memory). Anything else
 * (bytes busboy held back in its own reused look-behind buffer) is copied, as before.
 */
function joinSlices(whole: Buffer, chunks: readonly Buffer[]): Buffer {
  const first = chunks[0];
  if (first === undefined) return Buffer.alloc(0);
  let end = first.byteOffset;
  for (const chunk of chunks) {
    if (chunk.buffer !== whole.buffer || chunk.byteOffset !== end) return Buffer.concat(chunks);
    end += chunk.length;
  }
  const start = first.byteOffset - whole.byteOffset;
  if (start < 0 || end > whole.byteOffset + whole.length) return Buffer.concat(chunks);
  return whole.subarray(start, end - whole.byteOffset);
}

const malformed = (cause?: unknown) => new HttpError(400, 'The request body is not valid multipart/form-data', { cause });

/**
 * Parses a whole multipart/form-data body with busboy (the parser Middy's own middleware
 * wraps). Written here rather than taken from `@middy/http-multipart-body-parser` 6 because
 * that one lets a truncated part's stream error escape as an uncaught exception (a remote
 * crash of the container) and rejects quoted boundaries.
 *
 * A file over `limits.fileSize` is kept with `truncated: true` so the caller can answer 413;
 * more files or fields than allowed are a 422, never silently dropped.
 *
 * A file's `content` may share memory with `body` instead of being a copy: leave `body`
 * unchanged while the form is in use.
 */
export function parseMultipart(body: Buffer, contentType: string | undefined, limits: MultipartLimits): Promise<Record<string, MultipartFile | string>> {
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) return Promise.reject(new HttpError(415, 'Content-Type must be multipart/form-data'));

  return new Promise((resolve, reject) => {
    const form = Object.create(null) as Record<string, MultipartFile | string>; // field names are client input
    let failed = false;
    const fail = (error: HttpError) => {
      if (!failed) reject(error);
      failed = true;
    };
    let parser: BusboyInstance;
    try {
      parser = Busboy({
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        limits: { fileSize: limits.fileSize, files: limits.files, fields: limits.fields, parts: limits.files + limits.fields, fieldSize: 64 * 1024 },
        preservePath: true, // the raw name reaches our own sanitizer, which logs nothing and trusts nothing
      });
    } catch (error) {
      reject(malformed(error));
      return;
    }
    parser.on('file', (field, stream, filename, encoding, mimetype) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: unknown) => fail(malformed(error)));
      stream.on('end', () => {
        // busboy treats a part with a non-text Content-Type as a file even without a filename
        // parameter, and hands it over with `filename` undefined: that is an empty name (a 422
        // where the name is needed), never a crash in the code that reads it.
        const name = typeof filename === 'string' ? filename : '';
        form[field] = { filename: name, mimetype, encoding, truncated: stream.truncated === true, content: joinSlices(body, chunks) };
      });
    });
    parser.on('field', (field, value) => {
      form[field] = value;
    });
    const tooMany = (what: string) => () =>
      fail(new HttpError(422, `Too many ${what} in the form`, { errors: [{ pointer: '', detail: `too many ${what}` }] }));
    parser.on('filesLimit', tooMany('files'));
    parser.on('fieldsLimit', tooMany('fields'));
    parser.on('partsLimit', tooMany('parts'));
    parser.on('error', (error: unknown) => fail(malformed(error)));
    parser.on('finish', () => {
      if (!failed) resolve(form);
    });
    parser.end(body);
  });
}
