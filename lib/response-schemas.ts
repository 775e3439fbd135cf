import * as z from './zod';
import { withMeta } from './zod';

/**
 * What the API answers, for the OpenAPI document only: handlers build their responses
 * themselves and never parse them, so only the route table and the openapi function import
 * this module, and no other function bundle carries these schemas.
 */

const int = () => z.number().check(z.int());

export const UserOut = withMeta(
  z.object({
    id: z.uuid(),
    email: z.string(),
    created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z', description: 'ISO-8601 UTC, to the second' }),
  }),
  { id: 'User' },
);

export const AccountUserOut = withMeta(
  z.object({
    id: z.uuid(),
    email: z.string(),
    created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z', description: 'ISO-8601 UTC, to the second' }),
    email_verified: withMeta(z.boolean(), { description: 'whether the address has been proven (a verification link, or a password reset)' }),
  }),
  { id: 'AccountUser' },
);

export const AcceptedOut = withMeta(z.object({ status: z.literal('accepted') }), {
  id: 'Accepted',
  description: 'taken; the same answer whatever happens next (whether a mail goes out is never told)',
});

export const TokenPairOut = withMeta(
  z.object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: withMeta(int(), { description: 'access token lifetime in seconds', example: 900 }),
  }),
  { id: 'TokenPair' },
);

export const MfaRequiredOut = withMeta(
  z.object({
    mfa_required: z.literal(true),
    mfa_token: withMeta(z.string(), { description: 'opaque; send it with a code to POST /auth/mfa/verify' }),
    expires_in: withMeta(int(), { description: 'seconds the mfa_token stays valid', example: 300 }),
  }),
  { id: 'MfaRequired', description: 'the password was right and the account has MFA on: no tokens until POST /auth/mfa/verify' },
);

export const TokenPairOrMfaOut = withMeta(z.union([TokenPairOut, MfaRequiredOut]), { description: 'a token pair, or with MFA on an mfa_token' });

export const TotpEnrolmentOut = withMeta(
  z.object({
    secret: withMeta(z.string(), { description: 'base32 TOTP secret (20 bytes), for apps that take it typed in', example: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' }),
    otpauth_url: withMeta(z.string(), { description: 'otpauth://totp/... URL, usually shown as a QR code' }),
  }),
  { id: 'TotpEnrolment' },
);

export const RecoveryCodesOut = withMeta(
  z.object({
    recovery_codes: withMeta(z.array(z.string()), { description: '10 single-use codes, shown only this once', example: ['ABCD-EFGH-JKLM-NPQR'] }),
  }),
  { id: 'RecoveryCodes' },
);

export const SessionOut = withMeta(
  z.object({
    id: withMeta(z.uuid(), { description: 'the session id (the `sid` claim of its access tokens)' }),
    created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z', description: 'the login' }),
    last_used_at: withMeta(z.string(), { example: '2024-01-15T11:00:00Z', description: 'the last login or refresh' }),
    ip: withMeta(z.nullable(z.string()), { example: '203.0.113.7', description: 'of the last login or refresh; null for sessions older than this list' }),
    user_agent: withMeta(z.nullable(z.string()), { description: 'of the last login or refresh, at most 256 characters' }),
    current: withMeta(z.boolean(), { description: 'the session of the access token that asked' }),
  }),
  { id: 'Session' },
);

export const SessionListOut = withMeta(z.object({ sessions: z.array(SessionOut) }), {
  id: 'SessionList',
  description: 'live sessions, newest first (at most 1000)',
});

export const ScanStatusOut = withMeta(z.enum(['clean', 'pending', 'infected', 'unscanned']), {
  id: 'ScanStatus',
  description:
    'clean: a malware scanner found nothing; pending: GuardDuty (SCANNER=guardduty) has not answered yet; infected: GuardDuty found a threat ' +
    'after the file was stored (its object is deleted); unscanned: stored with SCANNER=none. Only clean and unscanned files are ever served.',
});

const downloadUrl = (description: string) =>
  withMeta(z.nullable(z.string()), { description: `${description}; null while the file may not be served (scan_status pending or infected)` });

export const UploadOut = withMeta(
  z.object({
    id: withMeta(z.uuid(), { description: 'the file id in the files table' }),
    filename: withMeta(z.string(), { example: 'document.pdf' }),
    key: withMeta(z.string(), { description: 'storage key; opaque to clients' }),
    url: downloadUrl('presigned download URL (attachment), valid PRESIGNED_URL_EXPIRE_SECONDS'),
    status: z.literal('uploaded'),
    scan_status: ScanStatusOut,
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
  scan_status: ScanStatusOut,
};

export const FileOut = withMeta(z.object(fileFields), { id: 'File' });

export const FileWithUrlOut = withMeta(
  z.object({ ...fileFields, url: downloadUrl('fresh presigned download URL (attachment)') }),
  { id: 'FileWithUrl' },
);

export const FileListOut = withMeta(
  z.object({
    files: z.array(FileOut),
    next_cursor: withMeta(z.nullable(z.string()), { description: 'pass as `cursor` for the next page; null on the last page' }),
  }),
  { id: 'FileList' },
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

export const CompletedUploadOut = withMeta(z.extend(UploadOut, { size: int(), content_type: z.string() }), {
  id: 'CompletedUpload',
});

export const CaptchaChallengeOut = withMeta(
  z.object({
    parameters: withMeta(
      z.object({
        algorithm: withMeta(z.string(), { example: 'PBKDF2/SHA-256' }),
        nonce: z.string(),
        salt: z.string(),
        cost: int(),
        keyLength: int(),
        keyPrefix: z.string(),
        keySignature: z.optional(z.string()),
        expiresAt: withMeta(int(), { description: 'Unix seconds; 10 minutes after issue' }),
      }),
      { description: "altcha-lib's challenge parameters, signed" },
    ),
    signature: z.string(),
  }),
  {
    id: 'CaptchaChallenge',
    description:
      'An ALTCHA (v2) proof-of-work challenge as altcha-lib createChallenge returns it. Solve it (the ALTCHA widget, or altcha-lib solveChallenge) ' +
      'and send base64(JSON.stringify({challenge, solution})) as `captcha`.',
  },
);

export const AuditEventOut = withMeta(
  z.object({
    id: z.uuid(),
    at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z' }),
    type: withMeta(z.string(), { example: 'auth.login.failed' }),
    ip: z.nullable(z.string()),
    user_agent: z.nullable(z.string()),
    request_id: withMeta(z.nullable(z.string()), { description: 'the `instance` of the request that caused it' }),
    details: withMeta(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), {
      description: 'per type, e.g. {"reason": "wrong_password"} or {"file_id": ...}; never a secret',
    }),
  }),
  { id: 'AuditEvent' },
);

export const AuditEventListOut = withMeta(
  z.object({
    events: z.array(AuditEventOut),
    next_cursor: withMeta(z.nullable(z.string()), { description: 'pass as `cursor` for the next page; null on the last page' }),
  }),
  { id: 'AuditEventList' },
);

export const ShareCreatedOut = withMeta(
  z.object({
    id: withMeta(z.uuid(), { description: 'the share id (for listing and revoking)' }),
    url: withMeta(z.string(), {
      description: 'APP_URL/s/{token}: the link to give out. Shown once: only a hash of the token is stored',
      example: 'https://files.example.com/s/3q2-7wQxZ0bV9Kc1mN4pL8sT6uY2eR5aW0dF7gH9jJk',
    }),
    expires_at: withMeta(z.string(), { example: '2024-01-16T10:30:00Z' }),
    max_downloads: withMeta(z.nullable(int()), { description: 'null: no limit' }),
  }),
  { id: 'ShareCreated' },
);

export const ShareOut = withMeta(
  z.object({
    id: z.uuid(),
    created_at: withMeta(z.string(), { example: '2024-01-15T10:30:00Z' }),
    expires_at: withMeta(z.string(), { example: '2024-01-16T10:30:00Z' }),
    max_downloads: withMeta(z.nullable(int()), { description: 'null: no limit' }),
    downloads: withMeta(int(), { description: 'successful resolutions so far' }),
    has_password: z.boolean(),
  }),
  { id: 'Share' },
);

export const ShareListOut = withMeta(z.object({ shares: z.array(ShareOut) }), {
  id: 'ShareList',
  description: 'the live shares of the file (not expired, not used up), newest first (at most 1000); never a token',
});

export const ResolvedShareOut = withMeta(
  z.object({
    url: withMeta(z.string(), { description: 'fresh presigned download URL (attachment), valid at most 300 seconds' }),
    filename: withMeta(z.string(), { example: 'document.pdf' }),
    size: withMeta(int(), { description: 'bytes' }),
  }),
  { id: 'ResolvedShare' },
);

export const HealthOut = withMeta(z.object({ status: z.literal('ok') }), { id: 'Health' });

export const Problem = withMeta(
  z.object({
    type: withMeta(z.string(), { example: 'about:blank' }),
    title: z.string(),
    status: int(),
    detail: z.string(),
    instance: withMeta(z.string(), { description: 'the request id' }),
    errors: z.optional(z.array(z.object({ pointer: z.string(), detail: z.string() }))),
    captcha_required: withMeta(z.optional(z.boolean()), {
      description:
        '429 and 400 "CAPTCHA required" only: true when a solved challenge from GET /auth/captcha, sent as `captcha`, lets the attempt through; ' +
        'false when the client address is past its limit and must wait for Retry-After',
    }),
  }),
  { id: 'Problem', description: 'RFC 9457 problem details' },
);
