import { SHARE_DEFAULT_EXPIRES_IN, SHARE_MAX_DOWNLOADS, SHARE_MAX_EXPIRES_IN } from './share-limits';
import { MAX_DIRECT_UPLOAD_BYTES } from './storage/limits';
import * as z from './zod';
import { withMeta } from './zod';

/** bcrypt reads at most 72 bytes of a password and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_LENGTH = 8;

/**
 * One schema per request body or query: the TypeScript type, the runtime validation (422 with
 * JSON pointers) and the OpenAPI document all come from here. Response schemas, which only
 * document, live in `./response-schemas` so that no handler bundles them. Written with
 * `zod/mini`'s functions (see `./zod`): each bundle pays only for the checks it uses.
 */

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

/** Longest CAPTCHA payload accepted (a real one is about 700 characters). */
export const CAPTCHA_MAX_LENGTH = 4096;

const captcha = withMeta(z.optional(z.string().check(z.maxLength(CAPTCHA_MAX_LENGTH))), {
  description:
    'a solved ALTCHA challenge from GET /auth/captcha: base64 of JSON {challenge, solution}, as the ALTCHA widget submits it. ' +
    'Needed past the per-account failure limit (a 429 with captcha_required: true), or always with CAPTCHA=always. Works once.',
});

export const RegisterBody = withMeta(
  z.object({ email, password: withMeta(passwordBytes(PASSWORD_MIN_LENGTH), { example: 'SecurePassword123!' }), captcha }),
  { id: 'RegisterBody' },
);

export const LoginBody = withMeta(z.object({ email, password: withMeta(passwordBytes(1), { example: 'SecurePassword123!' }), captcha }), {
  id: 'LoginBody',
});

/** A new password: register's rules (8 characters to 72 UTF-8 bytes). */
const newPassword = withMeta(passwordBytes(PASSWORD_MIN_LENGTH), { example: 'EvenBetterPassword456!' });

/** A token from a mailed link (the `token` query parameter); anything longer is no token of ours. */
const linkToken = withMeta(z.string().check(z.minLength(1, 'is required'), z.maxLength(512)), {
  description: 'the `token` query parameter of the link in the mail',
});

export const PasswordChangeBody = withMeta(
  z.object({ current_password: withMeta(passwordBytes(1), { example: 'SecurePassword123!' }), new_password: newPassword, captcha }),
  { id: 'PasswordChangeBody' },
);

export const AccountDeletionBody = withMeta(z.object({ password: withMeta(passwordBytes(1), { example: 'SecurePassword123!' }), captcha }), {
  id: 'AccountDeletionBody',
});

export const VerifyEmailBody = withMeta(z.object({ token: linkToken }), { id: 'VerifyEmailBody' });

export const VerifyEmailQuery = z.object({ token: linkToken });

export const PasswordResetQuery = z.object({ token: linkToken });

export const PasswordForgotBody = withMeta(z.object({ email, captcha }), { id: 'PasswordForgotBody' });

export const PasswordResetBody = withMeta(z.object({ token: linkToken, new_password: newPassword }), { id: 'PasswordResetBody' });

export const RefreshTokenBody = withMeta(z.object({ refresh_token: z.string().check(z.minLength(1, 'is required')) }), {
  id: 'RefreshTokenBody',
});

/** Logout takes any string, even empty: its 204 must not tell tokens apart. */
export const LogoutBody = withMeta(z.object({ refresh_token: z.string() }), { id: 'LogoutBody' });

/** A TOTP code: six digits (authenticator apps show them in two groups; a space is allowed). */
const totpCode = withMeta(
  z.pipe(
    z.string().check(z.maxLength(16), z.trim(), z.regex(/^\d{3} ?\d{3}$/, 'must be the 6 digits your authenticator app shows')),
    z.transform((value: string) => value.replace(' ', '')),
  ),
  { example: '123456', description: 'the 6-digit code of your authenticator app' },
);

/** A TOTP code or a recovery code (16 base32 characters, hyphens and case optional). */
const secondFactorCode = withMeta(
  z.string().check(
    z.maxLength(64),
    z.trim(),
    z.regex(/^(\d{3} ?\d{3}|[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3})$/, 'must be a 6-digit code or a recovery code like ABCD-EFGH-JKLM-NPQR'),
  ),
  { example: '123456', description: 'the 6-digit code of your authenticator app, or one of your recovery codes (each works once)' },
);

export const TotpConfirmBody = withMeta(z.object({ code: totpCode }), { id: 'TotpConfirmRequest' });

export const TotpDisableBody = withMeta(z.object({ code: secondFactorCode }), { id: 'TotpDisableRequest' });

export const MfaVerifyBody = withMeta(
  z.object({
    mfa_token: withMeta(z.string().check(z.minLength(1, 'is required'), z.maxLength(128)), { description: 'from the login answer; valid 300 s' }),
    code: secondFactorCode,
    captcha,
  }),
  { id: 'MfaVerifyRequest' },
);

export const ListFilesQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 50),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
});

export const ListEventsQuery = z.object({
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

export const CreateShareBody = withMeta(
  z.object({
    expires_in: withMeta(
      z._default(z.number().check(z.int(), z.minimum(1), z.maximum(SHARE_MAX_EXPIRES_IN, `must be at most ${SHARE_MAX_EXPIRES_IN} seconds (30 days)`)), SHARE_DEFAULT_EXPIRES_IN),
      { description: 'seconds until the link stops working: 1 to 2592000 (30 days); default 86400 (a day)', example: 86_400 },
    ),
    max_downloads: withMeta(
      z.optional(z.nullable(z.number().check(z.int(), z.minimum(1), z.maximum(SHARE_MAX_DOWNLOADS, `must be at most ${SHARE_MAX_DOWNLOADS}`)))),
      { description: 'downloads the link allows, 1 to 1000000; absent or null: no limit until it expires', example: 5 },
    ),
    password: withMeta(z.optional(passwordBytes(PASSWORD_MIN_LENGTH)), {
      description: 'optional; 8 characters to 72 bytes, like account passwords. The recipient sends it to POST /s/{token}',
    }),
  }),
  { id: 'CreateShareRequest' },
);

export const UnlockShareBody = withMeta(
  z.object({
    password: withMeta(z.optional(passwordBytes(1)), { description: "the share's password; needed only for a protected share" }),
    captcha,
  }),
  { id: 'UnlockShareRequest' },
);

export type RegisterBody = z.output<typeof RegisterBody>;
export type LoginBody = z.output<typeof LoginBody>;
export type RefreshTokenBody = z.output<typeof RefreshTokenBody>;
export type MfaVerifyBody = z.output<typeof MfaVerifyBody>;
export type UploadPlanBody = z.output<typeof UploadPlanBody>;
