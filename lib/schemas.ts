import { MAX_DIRECT_UPLOAD_BYTES } from './storage/limits';
import * as z from './zod';
import { withMeta } from './zod';

/** bcrypt reads at most 72 bytes of a password and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_LENGTH = 8;

/**
 * One schema per body: the TypeScript type, the runtime validation (422 with JSON pointers)
 * and the OpenAPI document all come from here. Written with `zod/mini`'s functions (see
 * `./zod`): each function bundle pays for the checks it uses, not for classic zod's methods.
 */

const int = () => z.number().check(z.int());

const email = withMeta(
  z.pipe(z.string().check(z.trim(), z.maxLength(254)), z.email({ error: 'must be a valid email address' })),
  { example: 'alice@example.com', format: 'email' },
);

const passwordBytes = (min: number) =>
  z.string().check(
    z.minLength(min, min > 1 ? `must be at least ${min} characters` : 'is required'),
    z.refine((value: string) => Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES, {
      error: `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt ignores anything longer)`,
    }),
  );

export const RegisterBody = withMeta(
  z.object({ email, password: withMeta(passwordBytes(PASSWORD_MIN_LENGTH), { example: 'SecurePassword123!' }) }),
  { id: 'RegisterBody' },
);

export const LoginBody = withMeta(z.object({ email, password: withMeta(passwordBytes(1), { example: 'SecurePassword123!' }) }), {
  id: 'LoginBody',
});

export const RefreshTokenBody = withMeta(z.object({ refresh_token: z.string().check(z.minLength(1, 'is required')) }), {
  id: 'RefreshTokenBody',
});

/** Logout takes any string, even empty: its 204 must not tell tokens apart. */
export const LogoutBody = withMeta(z.object({ refresh_token: z.string() }), { id: 'LogoutBody' });

export const UserOut = withMeta(
  z.object({
    id: z.uuid(),
    email: z.string(),
    created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z', description: 'ISO-8601 UTC, to the second' }),
  }),
  { id: 'User' },
);

export const TokenPairOut = withMeta(
  z.object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: withMeta(int(), { description: 'access token lifetime in seconds', example: 900 }),
  }),
  { id: 'TokenPair' },
);

export const UploadOut = withMeta(
  z.object({
    id: withMeta(z.uuid(), { description: 'the file id in the files table' }),
    filename: withMeta(z.string(), { example: 'document.pdf' }),
    key: withMeta(z.string(), { description: 'storage key; opaque to clients' }),
    url: withMeta(z.string(), { description: 'presigned download URL (attachment), valid PRESIGNED_URL_EXPIRE_SECONDS' }),
    status: z.literal('uploaded'),
  }),
  { id: 'Upload' },
);

export const UploadForm = withMeta(
  z.object({ file: withMeta(z.string(), { format: 'binary', description: 'the file; at most MAX_UPLOAD_BYTES' }) }),
  { id: 'UploadForm' },
);

const fileFields = {
  id: z.uuid(),
  filename: withMeta(z.string(), { example: 'document.pdf' }),
  key: withMeta(z.string(), { description: 'storage key; opaque to clients' }),
  size: withMeta(int(), { description: 'bytes' }),
  content_type: withMeta(z.string(), { example: 'application/pdf' }),
  created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z' }),
};

export const FileOut = withMeta(z.object(fileFields), { id: 'File' });

export const FileWithUrlOut = withMeta(
  z.object({ ...fileFields, url: withMeta(z.string(), { description: 'fresh presigned download URL (attachment)' }) }),
  { id: 'FileWithUrl' },
);

export const FileListOut = withMeta(
  z.object({
    files: z.array(FileOut),
    next_cursor: withMeta(z.nullable(z.string()), { description: 'pass as `cursor` for the next page; null on the last page' }),
  }),
  { id: 'FileList' },
);

export const ListFilesQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 50),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
});

export const FileIdParams = z.object({ id: z.string() });

export const UploadPlanBody = withMeta(
  z.object({
    filename: withMeta(z.string().check(z.minLength(1), z.maxLength(1024)), { example: 'holiday.mp4' }),
    content_type: withMeta(z.string().check(z.minLength(3), z.maxLength(255)), { example: 'video/mp4' }),
    size: withMeta(
      z
        .number()
        .check(z.int(), z.minimum(1), z.maximum(MAX_DIRECT_UPLOAD_BYTES, `must be at most ${MAX_DIRECT_UPLOAD_BYTES} bytes`)),
      { description: 'exact size in bytes; the upload is verified against it' },
    ),
  }),
  { id: 'UploadPlanRequest' },
);

export const UploadPlanOut = withMeta(
  z.object({
    id: z.uuid(),
    key: z.string(),
    expires_in: withMeta(int(), { description: 'seconds the upload URLs stay valid' }),
    upload: z.union([
      z.object({
        method: z.literal('PUT'),
        url: z.string(),
        headers: withMeta(z.record(z.string(), z.string()), { description: 'send exactly these headers (Content-Length is signed too)' }),
      }),
      z.object({
        method: z.literal('multipart'),
        part_size: withMeta(int(), { description: 'bytes per part; the last part is smaller' }),
        parts: z.array(z.object({ part_number: int(), url: z.string() })),
      }),
    ]),
  }),
  { id: 'UploadPlan' },
);

export const CompleteUploadBody = withMeta(
  z.object({
    parts: withMeta(
      z.optional(
        z
          .array(
            z.object({
              part_number: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
              etag: z.string().check(z.minLength(1), z.maxLength(256)),
            }),
          )
          .check(z.maxLength(10_000)),
      ),
      { description: 'multipart uploads only: each part number with the ETag its PUT returned' },
    ),
  }),
  { id: 'CompleteUploadRequest' },
);

export const CompletedUploadOut = withMeta(z.extend(UploadOut, { size: int(), content_type: z.string() }), {
  id: 'CompletedUpload',
});

export const HealthOut = withMeta(z.object({ status: z.literal('ok') }), { id: 'Health' });

export const Problem = withMeta(
  z.object({
    type: withMeta(z.string(), { example: 'about:blank' }),
    title: z.string(),
    status: int(),
    detail: z.string(),
    instance: withMeta(z.string(), { description: 'the request id' }),
    errors: z.optional(z.array(z.object({ pointer: z.string(), detail: z.string() }))),
  }),
  { id: 'Problem', description: 'RFC 9457 problem details' },
);

export type RegisterBody = z.output<typeof RegisterBody>;
export type LoginBody = z.output<typeof LoginBody>;
export type RefreshTokenBody = z.output<typeof RefreshTokenBody>;
export type UploadPlanBody = z.output<typeof UploadPlanBody>;
