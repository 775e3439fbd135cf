import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { admitAttempt, recordFailedAttempt, recordSucceededAttempt, shareAccount } from './abuse-protection';
import { recordAuditEvent } from './audit';
import { hashPassword, verifyPassword } from './auth/passwords';
import { getConfig } from './config';
import { getDb } from './db/connection';
import { fileNotFound, type FileRecord } from './files';
import { HttpError } from './http/errors';
import type { RequestOrigin } from './request-origin';
import { isServable } from './scan/servable';
import { presignDownload } from './storage/presign';
import { isoSeconds } from './time';

/**
 * Share links (SPEC "Scan gate and share links"): revocable, expiring, optionally
 * password-protected and download-limited links to one stored file, `APP_URL/s/{token}`.
 *
 * The token is 256 random bits, base64url (43 characters), handed out once and stored only as
 * its SHA-256: the database alone cannot open a share. Every share that cannot be opened
 * (unknown, malformed, expired, revoked, used up, its file gone or not servable) answers the
 * one 404 of {@link shareNotFound}, so a token says nothing about why it is dead.
 *
 * Plain async functions over portable SQL (a conditional `UPDATE` counts downloads, no
 * dialect-specific locking), so PostgreSQL can stand behind the same interface.
 */

/** Lifetime of the presigned URL a resolution hands out (or PRESIGNED_URL_EXPIRE_SECONDS, if shorter). */
export const SHARE_URL_SECONDS = 300;
/** A list this long is already a sign of abuse; it stays far below Lambda's 6 MB response. */
export const MAX_LISTED_SHARES = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What {@link newToken} makes: 32 bytes, base64url without padding. Anything else is a 404 without a lookup. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface NewShare {
  readonly expires_in: number;
  readonly max_downloads?: number | null | undefined;
  readonly password?: string | undefined;
}

/** `POST /files/{id}/shares`: the only answer that ever holds the token (in `url`). */
export interface CreatedShare {
  readonly id: string;
  readonly url: string;
  readonly expires_at: string;
  readonly max_downloads: number | null;
}

/** One live share as `GET /files/{id}/shares` lists it: never the token, nor its hash. */
export interface ShareView {
  readonly id: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly max_downloads: number | null;
  readonly downloads: number;
  readonly has_password: boolean;
}

/** What `POST /s/{token}` answers. */
export interface ResolvedShare {
  readonly url: string;
  readonly filename: string;
  readonly size: number;
}

interface ShareRow {
  readonly id: string;
  readonly file_id: string;
  readonly owner_id: string;
  readonly password_hash: string | null;
  readonly expires_at: string;
  readonly max_downloads: number | null;
  readonly downloads: number;
}

/** A files row, every column: `scan_status` among them where the schema has it. */
type FileRow = FileRecord & { readonly owner_id: string; readonly status: string; readonly scan_status?: string | null };

/** The one answer for every share that cannot be opened, and for a share that is not the caller's. */
export const shareNotFound = () => new HttpError(404, 'No such share');

/**
 * 401 for a protected share opened without (or with a wrong) password. The challenge names a
 * scheme of its own (RFC 9110 wants one on every 401): the password goes in `POST /s/{token}`'s
 * body, never in an Authorization header.
 */
const passwordProblem = (detail: 'Password required' | 'Invalid password') =>
  new HttpError(401, detail, { headers: { 'WWW-Authenticate': 'SharePassword realm="share"' } });

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const newToken = (): string => randomBytes(32).toString('base64url');

function shareBaseUrl(): string {
  const { appUrl } = getConfig();
  // The stack sets APP_URL on every function that builds links; without it there is no host
  // this API may put into a link (the request's Host header is the client's to choose).
  if (!appUrl) throw new Error('APP_URL is not set: share links need an absolute base URL');
  return appUrl;
}

/** The caller's stored file, every column; 404 whether it does not exist or is someone else's. */
async function ownedFileRow(ownerId: string, fileId: string): Promise<FileRow> {
  if (!UUID.test(fileId)) throw fileNotFound();
  const row = (await getDb().get(`SELECT * FROM files WHERE id = ? AND owner_id = ? AND status = 'stored'`, fileId, ownerId)) as
    | FileRow
    | undefined;
  if (!row) throw fileNotFound();
  return row;
}

/**
 * Creates a share of one of the caller's stored files. A file that may not be served yet (a
 * scan pending, or infected) is a 409 "File is not available yet": the owner knows the file, so
 * saying so leaks nothing, and a link that could never open would only mislead its recipient.
 */
export async function createShare(ownerId: string, fileId: string, input: NewShare, origin: RequestOrigin): Promise<CreatedShare> {
  const file = await ownedFileRow(ownerId, fileId);
  if (!isServable(file)) throw new HttpError(409, 'File is not available yet');
  const base = shareBaseUrl();
  const id = randomUUID();
  const token = newToken();
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const now = new Date();
  const createdAt = isoSeconds(now);
  const expiresAt = isoSeconds(new Date(now.getTime() + input.expires_in * 1000));
  const maxDownloads = input.max_downloads ?? null;
  // The file may have been deleted while bcrypt ran: the foreign key refuses the row then.
  const inserted = (await getDb().run(`INSERT INTO shares (id, file_id, owner_id, token_hash, password_hash, created_at, expires_at, max_downloads, downloads)
      SELECT ?, id, owner_id, ?, ?, ?, ?, ?, 0 FROM files WHERE id = ? AND owner_id = ? AND status = 'stored'`, id, sha256(token), passwordHash, createdAt, expiresAt, maxDownloads, file.id, ownerId)).changes;
  if (inserted !== 1) throw fileNotFound();
  await recordAuditEvent(
    {
      type: 'share.created',
      userId: ownerId,
      // `protected`, not `has_password`: the audit log drops detail names that look like secrets.
      details: { share_id: id, file_id: file.id, expires_at: expiresAt, max_downloads: maxDownloads, protected: passwordHash !== null },
    },
    origin,
  );
  return { id, url: `${base}/s/${token}`, expires_at: expiresAt, max_downloads: maxDownloads };
}

/** The file's live shares (not expired, not used up), newest first; 404 for a file not the caller's. */
export async function listShares(ownerId: string, fileId: string): Promise<ShareView[]> {
  const file = await ownedFileRow(ownerId, fileId);
  const rows = (await getDb().all(`SELECT id, created_at, expires_at, max_downloads, downloads, password_hash IS NOT NULL AS has_password FROM shares
      WHERE file_id = ? AND owner_id = ? AND expires_at > ? AND (max_downloads IS NULL OR downloads < max_downloads)
      ORDER BY created_at DESC, id DESC LIMIT ?`, file.id, ownerId, isoSeconds(), MAX_LISTED_SHARES)) as Array<Omit<ShareView, 'has_password'> & { has_password: number | boolean }>;
  return rows.map((row) => ({ ...row, has_password: Boolean(row.has_password) }));
}

/** Revokes a share (deletes it: its token then matches nothing); 404 for a file or share not the caller's. */
export async function revokeShare(ownerId: string, fileId: string, shareId: string, origin: RequestOrigin): Promise<void> {
  const file = await ownedFileRow(ownerId, fileId);
  if (!UUID.test(shareId)) throw shareNotFound();
  const deleted = (await getDb().run('DELETE FROM shares WHERE id = ? AND file_id = ? AND owner_id = ?', shareId, file.id, ownerId)).changes;
  if (deleted !== 1) throw shareNotFound();
  await recordAuditEvent({ type: 'share.revoked', userId: ownerId, details: { share_id: shareId, file_id: file.id } }, origin);
}

const isLive = (share: ShareRow, now: string): boolean =>
  share.expires_at > now && (share.max_downloads === null || share.downloads < share.max_downloads);

/** The share a token opens and its file, or the one 404. Reads only; nothing is counted yet. */
async function findOpenableShare(token: string): Promise<{ share: ShareRow; file: FileRow }> {
  if (!TOKEN.test(token)) throw shareNotFound();
  const share = (await getDb().get('SELECT id, file_id, owner_id, password_hash, expires_at, max_downloads, downloads FROM shares WHERE token_hash = ?', sha256(token))) as ShareRow | undefined;
  if (!share || !isLive(share, isoSeconds())) throw shareNotFound();
  const file = (await getDb().get(`SELECT * FROM files WHERE id = ? AND status = 'stored'`, share.file_id)) as FileRow | undefined;
  if (!file || !isServable(file)) throw shareNotFound();
  return { share, file };
}

/**
 * Counts one download and hands out a fresh presigned GET (attachment, at most
 * {@link SHARE_URL_SECONDS}). The count is one conditional `UPDATE`: racing resolutions in any
 * number of containers never take a share past `max_downloads`, and one that loses the race
 * (or finds the share expired or revoked since it was read) is the same 404.
 */
async function countDownload(share: ShareRow, file: FileRow, origin: RequestOrigin): Promise<ResolvedShare> {
  // Signed first (pure CPU): if signing fails, no download has been spent on it.
  const url = await presignDownload(file.key, file.filename, SHARE_URL_SECONDS);
  const counted = (await getDb().run(`UPDATE shares SET downloads = downloads + 1
      WHERE id = ? AND expires_at > ? AND (max_downloads IS NULL OR downloads < max_downloads)`, share.id, isoSeconds())).changes;
  if (counted !== 1) throw shareNotFound();
  // The owner's event (it shows in their GET /auth/events), from the downloader's address.
  await recordAuditEvent({ type: 'share.downloaded', userId: share.owner_id, details: { share_id: share.id, file_id: file.id } }, origin);
  return { url, filename: file.filename, size: file.size };
}

/** `GET /s/{token}`: a share without a password resolves at once; with one, 401 "Password required". */
export async function openShare(token: string, origin: RequestOrigin): Promise<ResolvedShare> {
  const { share, file } = await findOpenableShare(token);
  if (share.password_hash !== null) throw passwordProblem('Password required');
  return countDownload(share, file, origin);
}

/**
 * `POST /s/{token}`: resolves a share, checking its password if it has one. A wrong password is
 * a throttling failure for the share and for the address (SPEC "Abuse protection"): past the
 * limits the attempt is a 429 before any bcrypt compare, the right password included, unless a
 * solved CAPTCHA lifts the share's limit. A password sent for a share without one is ignored.
 */
export async function unlockShare(
  token: string,
  attempt: { readonly password?: string | undefined; readonly captcha?: string | undefined },
  origin: RequestOrigin,
): Promise<ResolvedShare> {
  const { share, file } = await findOpenableShare(token);
  if (share.password_hash === null) return countDownload(share, file, origin);
  if (attempt.password === undefined) throw passwordProblem('Password required');
  const admitted = await admitAttempt({ ip: origin.ip, account: shareAccount(share.id), captcha: attempt.captcha });
  if (!(await verifyPassword(attempt.password, share.password_hash))) {
    await recordFailedAttempt(admitted);
    throw passwordProblem('Invalid password');
  }
  await recordSucceededAttempt(admitted);
  return countDownload(share, file, origin);
}

/** Deletes shares that can never open again (expired or used up); resolves with how many. */
export async function sweepEndedShares(now: Date = new Date()): Promise<number> {
  return (await getDb().run('DELETE FROM shares WHERE expires_at <= ? OR (max_downloads IS NOT NULL AND downloads >= max_downloads)', isoSeconds(now))).changes;
}
