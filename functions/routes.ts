import type * as z from '../lib/zod';
import {
  AcceptedOut,
  AccountUserOut,
  AuditEventListOut,
  CaptchaChallengeOut,
  CompletedUploadOut,
  RecoveryCodesOut,
  TokenPairOrMfaOut,
  TotpEnrolmentOut,
  FileListOut,
  FileWithUrlOut,
  HealthOut,
  ResolvedShareOut,
  SessionListOut,
  ShareCreatedOut,
  ShareListOut,
  TokenPairOut,
  UploadForm,
  UploadOut,
  UploadPlanOut,
  UserOut,
} from '../lib/response-schemas';
import {
  AccountDeletionBody,
  CompleteUploadBody,
  CreateShareBody,
  ListEventsQuery,
  ListFilesQuery,
  LoginBody,
  LogoutBody,
  MfaVerifyBody,
  PasswordChangeBody,
  PasswordForgotBody,
  PasswordResetBody,
  RefreshTokenBody,
  RegisterBody,
  TotpConfirmBody,
  TotpDisableBody,
  UnlockShareBody,
  UploadPlanBody,
  VerifyEmailBody,
  VerifyEmailQuery,
  PasswordResetQuery,
} from '../lib/schemas';

/**
 * S3 actions a function may take (IAM action names; on the bucket's objects, except
 * ListBucket, which is on the bucket). Presigning counts: a presigned URL only works if the
 * signer's role may do what it allows, and multipart creation, part upload and completion are
 * all `PutObject` in IAM. ListBucket lets S3 answer 404 rather than 403 for a missing key.
 */
export type S3Action = 'GetObject' | 'PutObject' | 'DeleteObject' | 'AbortMultipartUpload' | 'ListBucket';

/** What a function touches; infra turns it into least-privilege grants and mounts. */
export interface RouteNeeds {
  /** SQLite on EFS: the function mounts the file system. */
  readonly db?: 'read' | 'write';
  readonly s3?: readonly S3Action[];
  /** Signs or verifies JWTs: may read the JWT secret. */
  readonly jwt?: boolean;
  /** Hashes or compares passwords (bcrypt): gets more memory, hence more CPU. */
  readonly bcrypt?: boolean;
  /** Sends mail (lib/mail): in AWS, may put messages on the mail queue. */
  readonly mail?: boolean;
  /** Seals or opens TOTP secrets (lib/mfa/secret-box.ts): may read the MFA encryption key, its own secret. */
  readonly mfaKey?: boolean;
  /** Builds absolute links for clients (share URLs): in AWS, gets `APP_URL`. */
  readonly links?: boolean;
  /**
   * Names the bucket's origin to browsers (the web client's CSP `connect-src`, for direct
   * uploads): gets `S3_BUCKET` and `S3_REGION`, and no grant at all.
   */
  readonly storageOrigin?: boolean;
}

export interface RouteDocs {
  readonly summary: string;
  readonly tag: 'auth' | 'files' | 'shares' | 'meta';
  readonly request?: { readonly json: z.ZodMiniType; readonly optional?: boolean } | { readonly multipart: z.ZodMiniType };
  /** Query string parameters (an object schema). */
  readonly query?: z.ZodMiniObject;
  /** Success responses; problem responses are listed by status in `errors`. */
  readonly responses: Readonly<
    Record<
      number,
      {
        readonly description: string;
        readonly schema?: z.ZodMiniType;
        readonly contentType?: string;
        /** Response headers worth documenting (a redirect's `Location`), by name: their description. */
        readonly headers?: Readonly<Record<string, string>>;
      }
    >
  >;
  readonly errors?: readonly number[];
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API Gateway route path: `{name}` for a parameter, `{proxy+}` for the rest of the path. */
  readonly path: string;
  /** File in `functions/` exporting `handler`. Several routes may share one (one Lambda). */
  readonly handler: string;
  readonly auth: boolean;
  readonly needs: RouteNeeds;
  /** Left out of the OpenAPI document (the docs' own asset route). */
  readonly hidden?: boolean;
  readonly docs: RouteDocs;
}

/**
 * The single source of truth for the API's surface: the CDK stack builds one Lambda per
 * handler and one API Gateway route per row, the local runtime routes by it, and the OpenAPI
 * document is generated from it.
 */
export const routes: readonly Route[] = [
  {
    method: 'POST',
    path: '/auth/register',
    handler: 'auth-register',
    auth: false,
    // jwt: the CAPTCHA key is derived from the JWT secret (lib/captcha-challenge.ts).
    // mail: the verification link (EMAIL_VERIFICATION optional or required).
    needs: { db: 'write', jwt: true, bcrypt: true, mail: true },
    docs: {
      summary: 'Create an account (at most REGISTER_MAX_PER_IP attempts per address and hour); mails a verification link unless EMAIL_VERIFICATION=off',
      tag: 'auth',
      request: { json: RegisterBody },
      responses: { 201: { description: 'Created', schema: UserOut } },
      errors: [400, 409, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/auth/login',
    handler: 'auth-login',
    auth: false,
    // mail: with EMAIL_VERIFICATION=required, an unverified account's correct login mails a fresh link.
    needs: { db: 'write', jwt: true, bcrypt: true, mail: true },
    docs: {
      summary:
        'Exchange email and password for an access and a refresh token; past LOGIN_MAX_FAILURES wrong passwords for the account, 429 unless `captcha` is solved; ' +
        'with EMAIL_VERIFICATION=required, 403 "Email not verified" for an unverified account (a fresh link is mailed)',
      tag: 'auth',
      request: { json: LoginBody },
      responses: {
        200: {
          description: 'A new token pair; with MFA on, `{mfa_required: true, mfa_token, expires_in}` instead (then POST /auth/mfa/verify)',
          schema: TokenPairOrMfaOut,
        },
      },
      errors: [400, 401, 403, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/auth/mfa/verify',
    handler: 'auth-mfa-verify',
    auth: false,
    needs: { db: 'write', jwt: true, mfaKey: true },
    docs: {
      summary:
        "A login's second step: the mfa_token from POST /auth/login and a TOTP or recovery code give the token pair. Wrong code: 400 (5 kill the token); unknown, expired or dead token: 401",
      tag: 'auth',
      request: { json: MfaVerifyBody },
      responses: { 200: { description: 'A new token pair', schema: TokenPairOut } },
      errors: [400, 401, 415, 422, 429, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/mfa/totp',
    handler: 'auth-mfa-totp-start',
    auth: true,
    needs: { db: 'write', jwt: true, mfaKey: true },
    docs: {
      summary: 'Start TOTP enrolment: a new secret for an authenticator app (replaces one still pending); on only after confirm. 409 with MFA on',
      tag: 'auth',
      responses: { 200: { description: 'The secret, shown once', schema: TotpEnrolmentOut } },
      errors: [401, 409, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/mfa/totp/confirm',
    handler: 'auth-mfa-totp-confirm',
    auth: true,
    needs: { db: 'write', jwt: true, mfaKey: true },
    docs: {
      summary: 'Turn MFA on with a first code from the authenticator app; answers 10 single-use recovery codes, shown only this once',
      tag: 'auth',
      request: { json: TotpConfirmBody },
      responses: { 200: { description: 'MFA is on', schema: RecoveryCodesOut } },
      errors: [400, 401, 409, 415, 422, 429, 503],
    },
  },
  {
    method: 'DELETE',
    path: '/auth/mfa/totp',
    handler: 'auth-mfa-totp-delete',
    auth: true,
    needs: { db: 'write', jwt: true, mfaKey: true },
    docs: {
      summary: 'Turn MFA off with a current TOTP code or a recovery code',
      tag: 'auth',
      request: { json: TotpDisableBody },
      responses: { 204: { description: 'MFA is off' } },
      errors: [400, 401, 409, 415, 422, 429, 503],
    },
  },
  {
    method: 'GET',
    path: '/auth/captcha',
    handler: 'auth-captcha',
    auth: false,
    // jwt: the challenge's HMAC key is derived from the JWT secret; no database.
    needs: { jwt: true },
    docs: {
      summary: 'A fresh ALTCHA proof-of-work challenge (valid 10 minutes); its solution goes into `captcha` of login or register',
      tag: 'auth',
      responses: { 200: { description: 'The challenge', schema: CaptchaChallengeOut } },
    },
  },
  {
    method: 'GET',
    path: '/auth/events',
    handler: 'auth-events',
    auth: true,
    needs: { db: 'read', jwt: true },
    docs: {
      summary: "The caller's own security events (audit log), newest first (cursor pagination)",
      tag: 'auth',
      query: ListEventsQuery,
      responses: { 200: { description: 'One page of events', schema: AuditEventListOut } },
      errors: [401, 422],
    },
  },
  {
    method: 'GET',
    path: '/auth/me',
    handler: 'auth-me',
    auth: true,
    needs: { db: 'read', jwt: true },
    docs: {
      summary: 'The signed-in user',
      tag: 'auth',
      responses: { 200: { description: 'The user', schema: AccountUserOut } },
      errors: [401],
    },
  },
  {
    method: 'DELETE',
    path: '/auth/me',
    handler: 'auth-account-delete',
    auth: true,
    // s3: the account's objects, its plans' staging copies and multipart uploads.
    needs: { db: 'write', s3: ['DeleteObject', 'AbortMultipartUpload'], jwt: true, bcrypt: true },
    docs: {
      summary:
        'Delete the account, confirmed by its password: its sessions, files (objects and rows) and plans go; the email can register again. ' +
        'A wrong password is 403 and counts toward the per-user and per-address limits (429)',
      tag: 'auth',
      request: { json: AccountDeletionBody },
      responses: { 204: { description: 'Deleted' } },
      errors: [400, 401, 403, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/auth/password',
    handler: 'auth-password-change',
    auth: true,
    needs: { db: 'write', jwt: true, bcrypt: true },
    docs: {
      summary:
        "Change the password, confirmed by the current one: every other session ends, this one stays. A wrong current password is 403 and counts toward the limits (429)",
      tag: 'auth',
      request: { json: PasswordChangeBody },
      responses: { 204: { description: 'Changed' } },
      errors: [400, 401, 403, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/auth/password/forgot',
    handler: 'auth-password-forgot',
    auth: false,
    // jwt: the CAPTCHA key; mail: the reset link.
    needs: { db: 'write', jwt: true, mail: true },
    docs: {
      summary:
        'Ask for a password reset link (valid PASSWORD_RESET_EXPIRE_SECONDS, once): 202 with the same body and time whether or not the account exists; ' +
        'at most five mails per account and hour',
      tag: 'auth',
      request: { json: PasswordForgotBody },
      responses: { 202: { description: 'Accepted', schema: AcceptedOut } },
      errors: [400, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/auth/password/reset',
    handler: 'auth-password-reset',
    auth: false,
    needs: { db: 'write', bcrypt: true },
    docs: {
      summary: 'Set a new password with the token of a reset link: every session ends, and the address counts as verified',
      tag: 'auth',
      request: { json: PasswordResetBody },
      responses: { 204: { description: 'Password set' } },
      errors: [400, 415, 422],
    },
  },
  {
    method: 'GET',
    path: '/auth/password/reset',
    handler: 'auth-password-reset-page',
    auth: false,
    needs: {},
    docs: {
      summary: 'Where the reset link points: sends the person who clicked it to the web client\'s new-password form (the token in its fragment)',
      tag: 'auth',
      query: PasswordResetQuery,
      responses: { 303: { description: 'To /#/reset/{token}, the web client\'s form that POSTs the token and the new password' } },
      errors: [422],
    },
  },
  {
    method: 'POST',
    path: '/auth/verify-email',
    handler: 'auth-verify-email',
    auth: false,
    needs: { db: 'write' },
    docs: {
      summary: 'Verify the address with the token of a verification link (valid 24 hours, once)',
      tag: 'auth',
      request: { json: VerifyEmailBody },
      responses: { 200: { description: 'The user, verified', schema: AccountUserOut } },
      errors: [400, 415, 422],
    },
  },
  {
    method: 'GET',
    path: '/auth/verify-email',
    handler: 'auth-verify-email-page',
    auth: false,
    needs: { db: 'write' },
    docs: {
      summary: 'Where the verification link points: verifies (once) and answers a short HTML page for the person who clicked',
      tag: 'auth',
      query: VerifyEmailQuery,
      responses: {
        200: { description: 'Verified (HTML page)', contentType: 'text/html' },
        400: { description: 'Unknown, used or expired token (HTML page)', contentType: 'text/html' },
      },
    },
  },
  {
    method: 'POST',
    path: '/auth/verify-email/resend',
    handler: 'auth-verify-email-resend',
    auth: true,
    needs: { db: 'write', jwt: true, mail: true },
    docs: {
      summary: 'Mail a fresh verification link (nothing if the address is verified already; at most five an hour): 202 either way',
      tag: 'auth',
      responses: { 202: { description: 'Accepted', schema: AcceptedOut } },
      errors: [401],
    },
  },
  {
    method: 'POST',
    path: '/auth/refresh',
    handler: 'auth-refresh',
    auth: false,
    needs: { db: 'write', jwt: true },
    docs: {
      summary: 'Rotate a refresh token: the old one is revoked, a new pair is issued',
      tag: 'auth',
      request: { json: RefreshTokenBody },
      responses: { 200: { description: 'A new token pair', schema: TokenPairOut } },
      errors: [400, 401, 415, 422],
    },
  },
  {
    method: 'POST',
    path: '/auth/logout',
    handler: 'auth-logout',
    auth: false,
    needs: { db: 'write' },
    docs: {
      summary: "End a refresh token's session (its access tokens stop working at once); answers 204 whatever the token was",
      tag: 'auth',
      request: { json: LogoutBody },
      responses: { 204: { description: 'Logged out' } },
      errors: [400, 415, 422],
    },
  },
  {
    method: 'POST',
    path: '/auth/logout-all',
    handler: 'auth-logout-all',
    auth: true,
    needs: { db: 'write', jwt: true },
    docs: {
      summary: "End every session of the caller, this one included: all its refresh and access tokens stop working",
      tag: 'auth',
      responses: { 204: { description: 'Every session ended' } },
      errors: [401],
    },
  },
  {
    method: 'GET',
    path: '/auth/sessions',
    handler: 'auth-sessions-list',
    auth: true,
    needs: { db: 'read', jwt: true },
    docs: {
      summary: "The caller's live sessions (one per login), newest first; `current` marks the one asking",
      tag: 'auth',
      responses: { 200: { description: 'Live sessions', schema: SessionListOut } },
      errors: [401],
    },
  },
  {
    method: 'DELETE',
    path: '/auth/sessions/{id}',
    handler: 'auth-sessions-delete',
    auth: true,
    needs: { db: 'write', jwt: true },
    docs: {
      summary: "End one of the caller's sessions: its refresh and access tokens stop working at once",
      tag: 'auth',
      responses: { 204: { description: 'Session ended' } },
      errors: [401, 404],
    },
  },
  {
    method: 'POST',
    path: '/upload',
    handler: 'upload',
    auth: true,
    // Get: the returned download URL; Delete: removing the object again if its row fails.
    needs: { db: 'write', s3: ['PutObject', 'GetObject', 'DeleteObject'], jwt: true },
    docs: {
      summary:
        'Upload one file (multipart field `file`) through the API. With SCANNER=clamd it is scanned first: 422 "Malware detected" or 503 ' +
        '"Scanner unavailable" keep nothing; with SCANNER=guardduty it is stored pending and answered with `url: null`',
      tag: 'files',
      request: { multipart: UploadForm },
      responses: { 200: { description: 'Stored; `url` is a presigned download link, or null while the scan is pending', schema: UploadOut } },
      errors: [400, 401, 413, 415, 422, 503],
    },
  },
  {
    method: 'GET',
    path: '/files',
    handler: 'files-list',
    auth: true,
    needs: { db: 'read', jwt: true },
    docs: {
      summary: "List the caller's files, newest first (cursor pagination)",
      tag: 'files',
      query: ListFilesQuery,
      responses: { 200: { description: 'One page of files', schema: FileListOut } },
      errors: [401, 422],
    },
  },
  {
    method: 'GET',
    path: '/files/{id}',
    handler: 'files-get',
    auth: true,
    needs: { db: 'read', s3: ['GetObject'], jwt: true },
    docs: {
      summary: 'One file with a fresh presigned download URL (`url: null` while its scan_status is pending or infected)',
      tag: 'files',
      responses: { 200: { description: 'The file', schema: FileWithUrlOut } },
      errors: [401, 404],
    },
  },
  {
    method: 'DELETE',
    path: '/files/{id}',
    handler: 'files-delete',
    auth: true,
    needs: { db: 'write', s3: ['DeleteObject'], jwt: true },
    docs: { summary: 'Delete a file and its object', tag: 'files', responses: { 204: { description: 'Deleted' } }, errors: [401, 404] },
  },
  {
    method: 'POST',
    path: '/files/{id}/shares',
    handler: 'shares-create',
    auth: true,
    // bcrypt: an optional share password is stored hashed; links: the share URL is absolute.
    needs: { db: 'write', jwt: true, bcrypt: true, links: true },
    docs: {
      summary: 'Create a revocable share link to one of your files (expiry, optional download limit and password)',
      tag: 'shares',
      request: { json: CreateShareBody, optional: true },
      responses: { 201: { description: 'Created; `url` holds the token and is shown only this once', schema: ShareCreatedOut } },
      errors: [400, 401, 404, 409, 415, 422],
    },
  },
  {
    method: 'GET',
    path: '/files/{id}/shares',
    handler: 'shares-list',
    auth: true,
    needs: { db: 'read', jwt: true },
    docs: {
      summary: "A file's live share links, newest first (never their tokens)",
      tag: 'shares',
      responses: { 200: { description: 'Live shares', schema: ShareListOut } },
      errors: [401, 404],
    },
  },
  {
    method: 'DELETE',
    path: '/files/{id}/shares/{share_id}',
    handler: 'shares-delete',
    auth: true,
    needs: { db: 'write', jwt: true },
    docs: {
      summary: 'Revoke a share link: it stops working at once (answers 404 like an unknown one)',
      tag: 'shares',
      responses: { 204: { description: 'Revoked' } },
      errors: [401, 404],
    },
  },
  {
    method: 'GET',
    path: '/s/{token}',
    handler: 'share-open',
    auth: false,
    // write: each resolution counts a download; GetObject: presigning the redirect target.
    needs: { db: 'write', s3: ['GetObject'] },
    docs: {
      summary:
        'Open a share link: counts one download and redirects to a fresh presigned download (attachment, valid at most 300 s). ' +
        'Unknown, expired, revoked and used-up links are one 404; a password-protected one is 401 (use POST), ' +
        "or for a browser's page load (Accept: text/html) a 303 to the web client's password form",
      tag: 'shares',
      responses: {
        302: {
          description: 'Redirect to the file',
          headers: {
            Location: 'presigned GET URL of the file, valid at most 300 seconds, downloads as an attachment',
            'Cache-Control': 'no-store',
            'Referrer-Policy': 'no-referrer',
          },
        },
        303: {
          description: 'A password-protected link opened in a browser (Accept: text/html): to the web client, which asks for the password',
          headers: { Location: '/#/s/{token}', 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' },
        },
      },
      errors: [401, 404],
    },
  },
  {
    method: 'POST',
    path: '/s/{token}',
    handler: 'share-unlock',
    auth: false,
    // bcrypt: the share password compare; jwt: the CAPTCHA key is derived from the JWT secret.
    needs: { db: 'write', s3: ['GetObject'], bcrypt: true, jwt: true },
    docs: {
      summary:
        'Resolve a share link, with its password if it has one: counts one download and answers a fresh presigned URL. Wrong passwords ' +
        'are throttled per share (LOGIN_MAX_FAILURES, then 429 unless `captcha` is solved) and per address (IP_MAX_FAILURES)',
      tag: 'shares',
      request: { json: UnlockShareBody, optional: true },
      responses: { 200: { description: 'The file', schema: ResolvedShareOut } },
      errors: [400, 401, 404, 415, 422, 429],
    },
  },
  {
    method: 'POST',
    path: '/uploads',
    handler: 'uploads-plan',
    auth: true,
    // Put: the presigned PUT, multipart creation and part URLs; Abort: a plan refused after creation.
    needs: { db: 'write', s3: ['PutObject', 'AbortMultipartUpload'], jwt: true },
    docs: {
      summary:
        'Plan a direct upload to storage: a presigned PUT, or presigned multipart parts for large files (with SCANNER=clamd, 413 above SCAN_MAX_BYTES)',
      tag: 'files',
      request: { json: UploadPlanBody },
      responses: { 201: { description: 'What to send where', schema: UploadPlanOut } },
      errors: [400, 401, 413, 415, 422],
    },
  },
  {
    method: 'POST',
    path: '/uploads/{id}/complete',
    handler: 'uploads-complete',
    auth: true,
    // Put: completing a multipart upload; Get: size and type checks and the download URL;
    // Delete: removing an upload that lied about its size or type; ListBucket: without it S3
    // answers 403, not 404, for "nothing uploaded yet" (a 409 for the client).
    needs: { db: 'write', s3: ['PutObject', 'GetObject', 'DeleteObject', 'ListBucket'], jwt: true },
    docs: {
      summary:
        'Verify a direct upload (size, type; with SCANNER=clamd a malware scan) and store it; idempotent. Infected: 422 "Malware detected", ' +
        'plan and object deleted; 503 "Scanner unavailable": the plan stays, retry later',
      tag: 'files',
      request: { json: CompleteUploadBody, optional: true },
      responses: { 200: { description: 'Stored', schema: CompletedUploadOut } },
      errors: [400, 401, 404, 409, 410, 413, 415, 422, 503],
    },
  },
  {
    method: 'GET',
    path: '/health',
    handler: 'health',
    auth: false,
    needs: {},
    docs: { summary: 'Liveness check', tag: 'meta', responses: { 200: { description: 'Up', schema: HealthOut } } },
  },
  {
    method: 'GET',
    path: '/openapi.json',
    handler: 'openapi',
    auth: false,
    needs: {},
    docs: { summary: 'This document', tag: 'meta', responses: { 200: { description: 'OpenAPI 3.1 document' } } },
  },
  {
    method: 'GET',
    path: '/docs',
    handler: 'docs',
    auth: false,
    needs: {},
    docs: { summary: 'Swagger UI', tag: 'meta', responses: { 200: { description: 'HTML page', contentType: 'text/html' } } },
  },
  {
    method: 'GET',
    path: '/docs/{proxy+}',
    handler: 'docs',
    auth: false,
    needs: {},
    hidden: true,
    docs: { summary: 'Swagger UI assets', tag: 'meta', responses: { 200: { description: 'Asset' } } },
  },
  // The web client: its page and its own asset folder only (no catch-all, so an unknown path
  // still answers 404 JSON). Served by the API itself: same origin, so no API CORS, and a CSP
  // of 'self' (README, "Web client").
  {
    method: 'GET',
    path: '/',
    handler: 'web',
    auth: false,
    needs: { storageOrigin: true },
    hidden: true,
    docs: { summary: 'The web client (HTML page)', tag: 'meta', responses: { 200: { description: 'HTML page', contentType: 'text/html' } } },
  },
  {
    method: 'GET',
    path: '/assets/{file}',
    handler: 'web',
    auth: false,
    needs: { storageOrigin: true },
    hidden: true,
    docs: { summary: 'The web client assets', tag: 'meta', responses: { 200: { description: 'Asset' } }, errors: [404] },
  },
];

/** The scheduled sweep of expired direct uploads: not an HTTP route, same needs vocabulary. */
export const sweepNeeds: RouteNeeds = { db: 'write', s3: ['DeleteObject', 'AbortMultipartUpload'] };

/**
 * The GuardDuty scan-result function (EventBridge target, `-c scanner=guardduty` only): records
 * verdicts in the database and deletes infected objects. It never reads an object.
 */
export const scanResultNeeds: RouteNeeds = { db: 'write', s3: ['DeleteObject'] };

/** Handler names, once each: one Lambda function per name. */
export const handlerNames = (): string[] => [...new Set(routes.map((route) => route.handler))];
