import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getConfig } from './config';
import { assertAllowedType, normalizeContentType, SNIFF_BYTES, verifyContentType } from './content-types';
import { getDb, statement } from './db/connection';
import { HttpError } from './http/errors';
import { logger } from './logger';
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
}

export interface IncomingFile {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

/** The seed's upload response, plus the file's `id` in the `files` table. */
export interface UploadResult {
  readonly id: string;
  readonly filename: string;
  readonly key: string;
  readonly url: string;
  readonly status: 'uploaded';
}

export interface NewFile {
  readonly id: string;
  readonly ownerId: string;
  readonly key: string;
  readonly filename: string;
  readonly size: number;
  readonly contentType: string;
}

const RECORD_COLUMNS = 'id, filename, key, size, content_type, created_at';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const fileNotFound = () => new HttpError(404, 'No such file');

/**
 * 413 naming the quota if `size` more bytes would take the owner past `USER_QUOTA_BYTES`
 * (0 = unlimited). Stored files and unexpired pending uploads count.
 */
export function assertWithinQuota(ownerId: string, size: number): void {
  const quota = getConfig().userQuotaBytes;
  if (quota === 0) return;
  const { used } = statement(
    getDb(),
    `SELECT COALESCE(SUM(size), 0) AS used FROM files
      WHERE owner_id = ? AND (status = 'stored' OR expires_at > ?)`,
  ).get(ownerId, isoSeconds()) as { used: number };
  if (used + size > quota) {
    throw new HttpError(413, `This file would exceed your storage quota of ${quota} bytes (USER_QUOTA_BYTES); ${Math.max(0, quota - used)} bytes are left`);
  }
}

/**
 * Records a file as pending under its owner's quota, in one `BEGIN IMMEDIATE` transaction so
 * that racing uploads cannot together overshoot it.
 */
export function reservePendingFile(file: NewFile, expiresAt: Date, multipart?: { uploadId: string; partSize: number }): void {
  const db = getDb();
  db.transaction(() => {
    assertWithinQuota(file.ownerId, file.size);
    statement(
      db,
      `INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at, status, upload_id, part_size, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
    ).run(
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
    );
  }).immediate();
}

/**
 * Turns a pending file into a stored one. False if it is no longer pending and unexpired: a
 * racing completion stored it, or the sweep claimed it; the caller decides which.
 */
export function markStored(id: string, size: number, contentType: string): boolean {
  return (
    statement(
      getDb(),
      `UPDATE files SET status = 'stored', size = ?, content_type = ?, expires_at = NULL, upload_id = NULL
        WHERE id = ? AND status = 'pending' AND expires_at > ?`,
    ).run(size, contentType, id, isoSeconds()).changes === 1
  );
}

/** Drops a pending file's row; false if it was not pending (never touches a stored file). */
export function forgetPendingFile(id: string): boolean {
  return statement(getDb(), `DELETE FROM files WHERE id = ? AND status = 'pending'`).run(id).changes === 1;
}

export async function deleteObject(key: string): Promise<void> {
  await getS3().send(new DeleteObjectCommand({ Bucket: getConfig().s3.bucket, Key: key }));
}

/**
 * Stores one file that came through the API (`POST /upload`): checks its type against the
 * allow-list and its bytes, reserves it under the quota, writes the object under a fresh
 * per-upload key, then marks it stored. If anything fails after the reservation, the object
 * and the row are removed again, so storage never holds an object the API does not know.
 */
export async function storeUpload(ownerId: string, file: IncomingFile): Promise<UploadResult> {
  const config = getConfig();
  const filename = displayFilename(file.filename);
  const declared = normalizeContentType(file.contentType, '/file');
  const contentType = await verifyContentType(declared, file.content.subarray(0, SNIFF_BYTES));
  assertAllowedType(contentType);

  const id = randomUUID();
  const key = objectKey(ownerId, id, filename);
  const size = file.content.length;
  reservePendingFile({ id, ownerId, key, filename, size, contentType }, new Date(Date.now() + 15 * 60_000));
  // Signing is pure CPU: done while the PUT waits on the network, and handed out only once
  // the object is stored. Its failure is dealt with where it is awaited, not as unhandled.
  const url = presignDownload(key, filename);
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
    if (!markStored(id, size, contentType)) throw new Error('The reservation of an upload in progress disappeared');
  } catch (error) {
    await deleteObject(key).catch((cleanup: unknown) => logger.error('Could not remove orphaned object', { key, error: cleanup as Error }));
    forgetPendingFile(id);
    throw error;
  }
  return { id, filename, key, url: await url, status: 'uploaded' };
}

/** One page of the owner's stored files, newest first. */
export interface FilePage {
  readonly files: FileRecord[];
  readonly next_cursor: string | null;
}

/**
 * Keyset pagination on the rowid, which SQLite assigns in insertion order (a new row always
 * gets one above every existing row): newest first even within one second, stable while files
 * are added or deleted, and each page is one backwards scan of the owner's index. The cursor is
 * opaque to clients; a malformed one is a 422.
 */
export function listFiles(ownerId: string, limit: number, cursor?: string): FilePage {
  const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
  const rows = statement(
    getDb(),
    `SELECT rowid AS position, ${RECORD_COLUMNS} FROM files
      WHERE owner_id = ? AND status = 'stored' AND rowid < ?
      ORDER BY rowid DESC LIMIT ?`,
  ).all(ownerId, before, limit + 1) as Array<FileRecord & { position: number }>;
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    files: page.map(({ position: _position, ...file }) => file),
    next_cursor: rows.length > limit && last ? Buffer.from(`v1:${last.position}`).toString('base64url') : null,
  };
}

/** The owner's stored file, or 404 whether it does not exist or belongs to someone else. */
export function getOwnedFile(ownerId: string, id: string): FileRecord {
  if (!UUID.test(id)) throw fileNotFound();
  const row = statement(getDb(), `SELECT ${RECORD_COLUMNS} FROM files WHERE id = ? AND owner_id = ? AND status = 'stored'`).get(
    id,
    ownerId,
  ) as FileRecord | undefined;
  if (!row) throw fileNotFound();
  return row;
}

export async function getFileWithUrl(ownerId: string, id: string): Promise<FileRecord & { url: string }> {
  const file = getOwnedFile(ownerId, id);
  return { ...file, url: await presignDownload(file.key, file.filename) };
}

/** Removes the object, then the row (a failed delete leaves the file listed, to retry); resolves with what was deleted. */
export async function deleteOwnedFile(ownerId: string, id: string): Promise<FileRecord> {
  const file = getOwnedFile(ownerId, id);
  await deleteObject(file.key);
  statement(getDb(), `DELETE FROM files WHERE id = ? AND status = 'stored'`).run(file.id);
  return file;
}

function decodeCursor(cursor: string): number {
  const match = /^v1:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1]) return Number(match[1]);
  throw new HttpError(422, 'The cursor is not one this API gave out', { errors: [{ pointer: '/query/cursor', detail: 'invalid cursor' }] });
}
