import { createHash, randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getConfig } from './config';
import { assertAllowedType, normalizeContentType, SNIFF_BYTES, verifyContentType } from './content-types';
import { getDb, type Queryable } from './db/connection';
import { HttpError } from './http/errors';
import { logger } from './logger';
import type { RequestOrigin } from './request-origin';
import { assertScannable, malwareDetected, scanOrFail, storedScanStatus } from './scan/gate';
import { getScanner } from './scan/get-scanner';
import type { ScanStatus } from './scan/scanner';
import { isServable } from './scan/servable';
import { displayFilename, objectKey } from './storage/keys';
import { presignDownload } from './storage/presign';
import { getS3 } from './storage/s3';
import { isoSeconds } from './time';

/** A stored file as clients see it. */
export interface FileRecord {
  readonly id: string;
  readonly filename: string;
  readonly key: string;
  readonly size: number;
  readonly content_type: string;
  readonly created_at: string;
  /** Only `clean` and `unscanned` files are ever served (see {@link isServable}). */
  readonly scan_status: ScanStatus;
}

export interface IncomingFile {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

/**
 * The seed's upload response, plus the file's `id` in the `files` table and its scan status.
 * `url` is null while the file may not be served (GuardDuty has not answered yet).
 */
export interface UploadResult {
  readonly id: string;
  readonly filename: string;
  readonly key: string;
  readonly url: string | null;
  readonly status: 'uploaded';
  readonly scan_status: ScanStatus;
}

export interface NewFile {
  readonly id: string;
  readonly ownerId: string;
  readonly key: string;
  readonly filename: string;
  readonly size: number;
  readonly contentType: string;
  /** What the row starts with: see `storedScanStatus` and `plannedScanStatus` (lib/scan/gate.ts). */
  readonly scanStatus: ScanStatus;
}

const RECORD_COLUMNS = 'id, filename, key, size, content_type, created_at, scan_status';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const fileNotFound = () => new HttpError(404, 'No such file');

/**
 * 413 naming the quota if `size` more bytes would take the owner past `USER_QUOTA_BYTES`
 * (0 = unlimited). Stored files (except infected ones: their object is deleted, the row only
 * tells the owner what happened) and unexpired pending uploads count, and so does each staging
 * key whose PUT URL is still valid after its file's row is gone (a refused plan, a deleted
 * file): the URL can still write it, and otherwise every refusal or delete would free quota
 * that the URL fills again outside it.
 */
export async function assertWithinQuota(ownerId: string, size: number, db: Queryable = getDb()): Promise<void> {
  const quota = getConfig().userQuotaBytes;
  if (quota === 0) return;
  const now = isoSeconds();
  const { used } = (await db.get<{ used: number }>(
    `SELECT (SELECT COALESCE(SUM(size), 0) FROM files WHERE owner_id = ? AND ((status = 'stored' AND scan_status <> 'infected') OR expires_at > ?))
          + (SELECT COALESCE(SUM(size), 0) FROM staging_leftovers AS leftover
              WHERE owner_id = ? AND sweep_after > ? AND NOT EXISTS (SELECT 1 FROM files WHERE files.id = leftover.file_id)) AS used`,
    ownerId,
    now,
    ownerId,
    now,
  ))!;
  if (used + size > quota) {
    throw new HttpError(413, `This file would exceed your storage quota of ${quota} bytes (USER_QUOTA_BYTES); ${Math.max(0, quota - used)} bytes are left`);
  }
}

/**
 * Records a file as pending under its owner's quota, in one `BEGIN IMMEDIATE` transaction so
 * that racing uploads cannot together overshoot it. `stagingKey`, the key a presigned PUT will
 * write, is recorded with it, for the sweep to delete once the plan (and the URL) expired,
 * whatever became of the plan, and for the quota to count until then.
 */
export async function reservePendingFile(
  file: NewFile,
  expiresAt: Date,
  multipart?: { uploadId: string; partSize: number },
  stagingKey?: string,
): Promise<void> {
  await getDb().transaction(async (tx) => {
    await assertWithinQuota(file.ownerId, file.size, tx);
    if (stagingKey) {
      await tx.run(
        'INSERT INTO staging_leftovers (key, sweep_after, owner_id, file_id, size) VALUES (?, ?, ?, ?, ?)',
        stagingKey,
        isoSeconds(expiresAt),
        file.ownerId,
        file.id,
        file.size,
      );
    }
    await tx.run(
      `INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at, status, upload_id, part_size, expires_at, scan_status, list_seq)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, (SELECT COALESCE(MAX(list_seq), 0) + 1 FROM files WHERE owner_id = ?))`,
      file.id,
      file.ownerId,
      file.key,
      file.filename,
      file.size,
      file.contentType,
      isoSeconds(),
      multipart?.uploadId ?? null,
      multipart?.partSize ?? null,
      isoSeconds(expiresAt),
      file.scanStatus,
      file.ownerId,
    );
  });
}

/**
 * Claims a pending, unexpired plan for one completion until `until`, unless another completion
 * holds an unlapsed claim on it. Returns the claim's token, or undefined if it is taken (or the
 * plan is gone). A conditional `UPDATE`: atomic on its own, whichever container runs it.
 */
export async function claimCompletion(id: string, until: Date): Promise<string | undefined> {
  const token = randomUUID();
  const now = isoSeconds();
  const { changes } = await getDb().run(
    `UPDATE files SET completion_token = ?, completion_until = ?
      WHERE id = ? AND status = 'pending' AND expires_at > ? AND (completion_token IS NULL OR completion_until <= ?)`,
    token,
    isoSeconds(until),
    id,
    now,
    now,
  );
  const claimed = changes === 1;
  return claimed ? token : undefined;
}

/** Gives a plan's completion claim back (the plan stays pending, for a retry). */
export async function releaseCompletion(id: string, token: string): Promise<void> {
  await getDb().run(`UPDATE files SET completion_token = NULL, completion_until = NULL WHERE id = ? AND completion_token = ?`, id, token);
}

/**
 * Turns a pending file into a stored one with `scanStatus`. False if it is no longer pending
 * and unexpired, or no longer held by `claim` (a direct upload's completion claim; none for
 * `POST /upload`): a completion that took over a lapsed claim stored it, or the sweep claimed
 * it; the caller decides which.
 *
 * `pending` (GuardDuty) keeps a verdict that already arrived: GuardDuty scans the object as soon
 * as it lands, and its EventBridge result may beat this update.
 */
export async function markStored(
  id: string,
  size: number,
  contentType: string,
  scanStatus: Exclude<ScanStatus, 'infected'>,
  claim: string | null = null,
): Promise<boolean> {
  const { changes } = await getDb().run(
    `UPDATE files SET status = 'stored', size = ?, content_type = ?, expires_at = NULL, upload_id = NULL,
          completion_token = NULL, completion_until = NULL,
          scan_status = CASE WHEN ? = 'pending' AND scan_status IN ('clean', 'infected') THEN scan_status ELSE ? END
        WHERE id = ? AND status = 'pending' AND expires_at > ? AND completion_token IS NOT DISTINCT FROM ?`,
    size,
    contentType,
    scanStatus,
    scanStatus,
    id,
    isoSeconds(),
    claim,
  );
  return changes === 1;
}

/**
 * Drops a pending file's row; false if it was not pending (never touches a stored file) or is
 * not held by `claim` (see {@link markStored}).
 */
export async function forgetPendingFile(id: string, claim: string | null = null): Promise<boolean> {
  const { changes } = await getDb().run(`DELETE FROM files WHERE id = ? AND status = 'pending' AND completion_token IS NOT DISTINCT FROM ?`, id, claim);
  return changes === 1;
}

export async function deleteObject(key: string): Promise<void> {
  await getS3().send(new DeleteObjectCommand({ Bucket: getConfig().s3.bucket, Key: key }));
}

/**
 * Stores one file that came through the API (`POST /upload`): checks its type against the
 * allow-list and its bytes, scans it (clamd: before anything is stored, so an infected file or
 * a scanner outage keeps nothing), reserves it under the quota, writes the object under a
 * fresh per-upload key, then marks it stored. If anything fails after the reservation, the
 * object and the row are removed again, so storage never holds an object the API does not know.
 * With GuardDuty the file is stored `pending` and answered without a URL.
 */
export async function storeUpload(ownerId: string, file: IncomingFile, origin: RequestOrigin): Promise<UploadResult> {
  const config = getConfig();
  const filename = displayFilename(file.filename);
  const declared = normalizeContentType(file.contentType, '/file');
  const verified = await verifyContentType(declared, file.content.subarray(0, SNIFF_BYTES));
  assertAllowedType(verified);
  const contentType = verified.type;

  const id = randomUUID();
  const key = objectKey(ownerId, id, filename);
  const size = file.content.length;
  const scanner = getScanner();
  const scanStatus = storedScanStatus(scanner.backend);
  if (scanner.backend === 'clamd') {
    assertScannable(scanner, size);
    await assertWithinQuota(ownerId, size); // no scan for a file the quota refuses anyway; reserve re-checks
    const verdict = await scanOrFail(scanner, file.content);
    if (verdict.status === 'infected') throw await malwareDetected(verdict.signature, { ownerId, fileId: id, filename, size }, origin);
  }
  await reservePendingFile({ id, ownerId, key, filename, size, contentType, scanStatus }, new Date(Date.now() + 15 * 60_000));
  // Signing is pure CPU: done while the PUT waits on the network, and handed out only once
  // the object is stored. Its failure is dealt with where it is awaited, not as unhandled.
  const url = isServable({ scan_status: scanStatus }) ? presignDownload(key, filename) : Promise.resolve(null);
  url.catch(() => undefined);
  try {
    await getS3().send(
      new PutObjectCommand({
        Bucket: config.s3.bucket,
        Key: key,
        Body: file.content,
        ContentType: contentType,
        ContentLength: size,
        Metadata: { 'owner-id': ownerId, 'file-id': id },
      }),
    );
    if (!(await markStored(id, size, contentType, scanStatus))) throw new Error('The reservation of an upload in progress disappeared');
  } catch (error) {
    await deleteObject(key).catch((cleanup: unknown) => logger.error('Could not remove orphaned object', { key, error: cleanup as Error }));
    await forgetPendingFile(id);
    throw error;
  }
  return { id, filename, key, url: await url, status: 'uploaded', scan_status: scanStatus };
}

/** One page of the owner's stored files, newest first. */
export interface FilePage {
  readonly files: FileRecord[];
  readonly next_cursor: string | null;
}

/**
 * Keyset pagination on the file's place in its owner's list (`list_seq`, numbered in upload
 * order inside the reservation's `BEGIN IMMEDIATE` transaction): newest first even within one
 * second, stable while files are added or deleted, and each page is one backwards scan of the
 * owner's index. The cursor is opaque and bound to its owner: it names a position in the
 * caller's own list only (nothing about other users' files), and a malformed, tampered or
 * someone else's cursor is a 422.
 */
export async function listFiles(ownerId: string, limit: number, cursor?: string): Promise<FilePage> {
  const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(ownerId, cursor);
  const rows = await getDb().all<FileRecord & { position: number }>(
    `SELECT list_seq AS position, ${RECORD_COLUMNS} FROM files
      WHERE owner_id = ? AND status = 'stored' AND list_seq < ?
      ORDER BY list_seq DESC LIMIT ?`,
    ownerId,
    before,
    limit + 1,
  );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    files: page.map(({ position: _position, ...file }) => file),
    next_cursor: rows.length > limit && last ? encodeCursor(ownerId, last.position) : null,
  };
}

/** The owner's stored file, or 404 whether it does not exist or belongs to someone else. */
export async function getOwnedFile(ownerId: string, id: string): Promise<FileRecord> {
  if (!UUID.test(id)) throw fileNotFound();
  const row = await getDb().get<FileRecord>(`SELECT ${RECORD_COLUMNS} FROM files WHERE id = ? AND owner_id = ? AND status = 'stored'`, id, ownerId);
  if (!row) throw fileNotFound();
  return row;
}

/**
 * The owner's file with a fresh download URL, or `url: null` while it may not be served
 * (pending a GuardDuty verdict, or infected): still a 200, so a client can poll for the verdict.
 */
export async function getFileWithUrl(ownerId: string, id: string): Promise<FileRecord & { url: string | null }> {
  const file = await getOwnedFile(ownerId, id);
  return { ...file, url: isServable(file) ? await presignDownload(file.key, file.filename) : null };
}

/** Removes the object, then the row (a failed delete leaves the file listed, to retry); resolves with what was deleted. */
export async function deleteOwnedFile(ownerId: string, id: string): Promise<FileRecord> {
  const file = await getOwnedFile(ownerId, id);
  await deleteObject(file.key);
  await getDb().run(`DELETE FROM files WHERE id = ? AND status = 'stored'`, file.id);
  return file;
}

/**
 * `v2.{owner tag}.{position}`, base64url. The tag (the first 48 bits of SHA-256 of the owner's
 * id) makes a cursor useless to anyone else; it is a check, not a secret: positions are the
 * owner's own upload count, which the owner may know.
 */
function encodeCursor(ownerId: string, position: number): string {
  return Buffer.from(`v2.${ownerTag(ownerId)}.${position}`).toString('base64url');
}

function decodeCursor(ownerId: string, cursor: string): number {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('latin1') : '';
  const match = /^v2\.([A-Za-z0-9_-]{8})\.([1-9]\d{0,14})$/.exec(text);
  // A canonical encoding only, so no two strings name the same cursor.
  if (match?.[1] === ownerTag(ownerId) && match[2] && encodeCursor(ownerId, Number(match[2])) === cursor) return Number(match[2]);
  throw new HttpError(422, 'The cursor is not one this API gave out', { errors: [{ pointer: '/query/cursor', detail: 'invalid cursor' }] });
}

const ownerTag = (ownerId: string): string => createHash('sha256').update(ownerId).digest().subarray(0, 6).toString('base64url');

/** An object a deleted account leaves in storage: a stored file, or a plan's (multipart upload, staging copy). */
export interface OwnedObject {
  readonly key: string;
  readonly status: 'pending' | 'stored';
  readonly uploadId: string | null;
}

/**
 * Every file row of the owner (stored and pending), for an account deletion, with a tombstone
 * per object key in `staging_leftovers` (due now, owned by nobody), so the sweep deletes
 * whatever the immediate cleanup could not. Call inside the transaction that deletes the user
 * (which takes the rows with it). A pending plan's staging key already has its row, due when
 * its URL expires: that stays, since the URL can write it until then.
 */
export async function collectOwnerObjectsInTransaction(tx: Queryable, ownerId: string, stagingKeyOf: (key: string) => string): Promise<OwnedObject[]> {
  const rows = await tx.all<{ key: string; status: 'pending' | 'stored'; upload_id: string | null }>(
    'SELECT key, status, upload_id FROM files WHERE owner_id = ?',
    ownerId,
  );
  const tombstone = (key: string) =>
    tx.run('INSERT INTO staging_leftovers (key, sweep_after, owner_id, file_id, size) VALUES (?, ?, NULL, NULL, 0) ON CONFLICT (key) DO NOTHING', key, now);
  const now = isoSeconds();
  for (const row of rows) {
    await tombstone(row.key);
    if (row.status === 'pending') await tombstone(stagingKeyOf(row.key));
  }
  return rows.map((row) => ({ key: row.key, status: row.status, uploadId: row.upload_id }));
}

/** Drops the tombstone of a key that is gone from storage, unless a live presigned URL can still write it. */
export async function forgetRemovedKey(key: string): Promise<void> {
  await getDb().run('DELETE FROM staging_leftovers WHERE key = ? AND sweep_after <= ?', key, isoSeconds());
}
