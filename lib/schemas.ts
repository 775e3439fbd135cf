import * as z from 'zod';
import { MAX_DIRECT_UPLOAD_BYTES } from './storage/limits';

/** bcrypt reads at most 72 bytes of a password and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_LENGTH = 8;

/**
 * One schema per body: the TypeScript type, the runtime validation (422 with JSON pointers)
 * and the OpenAPI document all come from here.
 */

const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ error: 'must be a valid email address' }))
  .meta({ example: 'alice@example.com', format: 'email' });

const passwordBytes = (min: number) =>
  z
    .string()
    .min(min, min > 1 ? `must be at least ${min} characters` : 'is required')
    .refine((value) => Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES, {
      error: `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt ignores anything longer)`,
    });

export const RegisterBody = z
  .object({ email, password: passwordBytes(PASSWORD_MIN_LENGTH).meta({ example: 'SecurePassword123!' }) })
  .meta({ id: 'RegisterBody' });

export const LoginBody = z
  .object({ email, password: passwordBytes(1).meta({ example: 'SecurePassword123!' }) })
  .meta({ id: 'LoginBody' });

export const RefreshTokenBody = z.object({ refresh_token: z.string().min(1, 'is required') }).meta({ id: 'RefreshTokenBody' });

/** Logout takes any string, even empty: its 204 must not tell tokens apart. */
export const LogoutBody = z.object({ refresh_token: z.string() }).meta({ id: 'LogoutBody' });

export const UserOut = z
  .object({
    id: z.uuid(),
    email: z.string(),
    created_at: z.string().meta({ example: '2024-01-15T10:30:00Z', description: 'ISO-8601 UTC, to the second' }),
  })
  .meta({ id: 'User' });

export const TokenPairOut = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().meta({ description: 'access token lifetime in seconds', example: 900 }),
  })
  .meta({ id: 'TokenPair' });

export const UploadOut = z
  .object({
    id: z.uuid().meta({ description: 'the file id in the files table' }),
    filename: z.string().meta({ example: 'document.pdf' }),
    key: z.string().meta({ description: 'storage key; opaque to clients' }),
    url: z.string().meta({ description: 'presigned download URL (attachment), valid PRESIGNED_URL_EXPIRE_SECONDS' }),
    status: z.literal('uploaded'),
  })
  .meta({ id: 'Upload' });

export const UploadForm = z
  .object({ file: z.string().meta({ format: 'binary', description: 'the file; at most MAX_UPLOAD_BYTES' }) })
  .meta({ id: 'UploadForm' });

const fileFields = {
  id: z.uuid(),
  filename: z.string().meta({ example: 'document.pdf' }),
  key: z.string().meta({ description: 'storage key; opaque to clients' }),
  size: z.number().int().meta({ description: 'bytes' }),
  content_type: z.string().meta({ example: 'application/pdf' }),
  created_at: z.string().meta({ example: '2024-01-15T10:30:00Z' }),
};

export const FileOut = z.object(fileFields).meta({ id: 'File' });

export const FileWithUrlOut = z
  .object({ ...fileFields, url: z.string().meta({ description: 'fresh presigned download URL (attachment)' }) })
  .meta({ id: 'FileWithUrl' });

export const FileListOut = z
  .object({
    files: z.array(FileOut),
    next_cursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'FileList' });

export const ListFilesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().min(1).max(512).optional(),
});

export const FileIdParams = z.object({ id: z.string() });

export const UploadPlanBody = z
  .object({
    filename: z.string().min(1).max(1024).meta({ example: 'holiday.mp4' }),
    content_type: z.string().min(3).max(255).meta({ example: 'video/mp4' }),
    size: z
      .number()
      .int()
      .min(1)
      .max(MAX_DIRECT_UPLOAD_BYTES, `must be at most ${MAX_DIRECT_UPLOAD_BYTES} bytes`)
      .meta({ description: 'exact size in bytes; the upload is verified against it' }),
  })
  .meta({ id: 'UploadPlanRequest' });

export const UploadPlanOut = z
  .object({
    id: z.uuid(),
    key: z.string(),
    expires_in: z.number().int().meta({ description: 'seconds the upload URLs stay valid' }),
    upload: z.union([
      z.object({
        method: z.literal('PUT'),
        url: z.string(),
        headers: z.record(z.string(), z.string()).meta({ description: 'send exactly these headers (Content-Length is signed too)' }),
      }),
      z.object({
        method: z.literal('multipart'),
        part_size: z.number().int().meta({ description: 'bytes per part; the last part is smaller' }),
        parts: z.array(z.object({ part_number: z.number().int(), url: z.string() })),
      }),
    ]),
  })
  .meta({ id: 'UploadPlan' });

export const CompleteUploadBody = z
  .object({
    parts: z
      .array(z.object({ part_number: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(256) }))
      .max(10_000)
      .optional()
      .meta({ description: 'multipart uploads only: each part number with the ETag its PUT returned' }),
  })
  .meta({ id: 'CompleteUploadRequest' });

export const CompletedUploadOut = UploadOut.extend({
  size: z.number().int(),
  content_type: z.string(),
}).meta({ id: 'CompletedUpload' });

export const HealthOut = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });

export const Problem = z
  .object({
    type: z.string().meta({ example: 'about:blank' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().meta({ description: 'the request id' }),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export type RegisterBody = z.output<typeof RegisterBody>;
export type LoginBody = z.output<typeof LoginBody>;
export type RefreshTokenBody = z.output<typeof RefreshTokenBody>;
export type UploadPlanBody = z.output<typeof UploadPlanBody>;
