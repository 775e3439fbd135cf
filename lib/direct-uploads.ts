import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { getConfig } from './config';
import { assertAllowedType, assertDeclaredTypeAllowed, normalizeContentType, SNIFF_BYTES, verifyContentType } from './content-types';
import { getDb } from './db/connection';
import {
  assertWithinQuota,
  claimCompletion,
  deleteObject,
  fileNotFound,
  forgetPendingFile,
  forgetRemovedKey,
  markStored,
  type OwnedObject,
  releaseCompletion,
  reservePendingFile,
} from './files';
import { HttpError } from './http/errors';
import { logger } from './logger';
import type { RequestOrigin } from './request-origin';
import { assertScannable, malwareDetected, plannedScanStatus, scanOrFail, storedScanStatus } from './scan/gate';
import { getScanner } from './scan/get-scanner';
import type { ScanStatus } from './scan/scanner';
import { isServable } from './scan/servable';
import { displayFilename, objectKey, stagingKey } from './storage/keys';
import { presignDownload } from './storage/presign';
import { MAX_PARTS, MIN_PART_SIZE, MiB } from './storage/limits';
import { getPresignS3, getS3 } from './storage/s3';
import { isoSeconds } from './time';

/** Time left after the upload URLs expire to call `complete`. */
const COMPLETE_GRACE_MS = 15 * 60_000;

export interface UploadPlanRequest {
  readonly filename: string;
  readonly content_type: string;
  readonly size: number;
}

export type UploadInstructions =
  | { readonly method: 'PUT'; readonly url: string; readonly headers: Readonly<Record<string, string>> }
  | { readonly method: 'multipart'; readonly part_size: number; readonly parts: ReadonlyArray<{ part_number: number; url: string }> };

export interface UploadPlan {
  readonly id: string;
  readonly key: string;
  readonly expires_in: number;
  readonly upload: UploadInstructions;
}

export interface CompletedUpload {
  readonly id: string;
  readonly filename: string;
  readonly key: string;
  /** Null while the file may not be served (pending a GuardDuty verdict, or infected). */
  readonly url: string | null;
  readonly status: 'uploaded';
  readonly size: number;
  readonly content_type: string;
  readonly scan_status: ScanStatus;
}

/** Part size for a multipart upload: whole MiB, at least 8 MiB, at most MAX_PARTS parts. */
export function partSizeFor(size: number): number {
  return Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/**
 * Plans a direct-to-storage upload: the API decides the key, the type and the size, and hands
 * out presigned URLs bound to them. Small files get one PUT (to a staging key) whose signature
 * covers Content-Type and Content-Length; large ones (over `MULTIPART_THRESHOLD_BYTES`, and
 * always over S3's 5 GiB PUT limit) get an S3 multipart upload with a presigned URL per part,
 * each signed for its exact length. The file is reserved under the quota until it completes
 * or the plan expires.
 *
 * With clamd, completion scans the whole object inline, so a size above `SCAN_MAX_BYTES` is
 * refused here (413), before the client sends bytes that could never be scanned, stored or served.
 */
export async function planUpload(ownerId: string, request: UploadPlanRequest): Promise<UploadPlan> {
  const config = getConfig();
  const filename = displayFilename(request.filename);
  const contentType = normalizeContentType(request.content_type);
  assertDeclaredTypeAllowed(contentType);
  const scanner = getScanner();
  assertScannable(scanner, request.size);
  const id = randomUUID();
  const key = objectKey(ownerId, id, filename);
  const expiresIn = config.presignedUrlExpireSeconds;
  const expiresAt = new Date(Date.now() + expiresIn * 1000 + COMPLETE_GRACE_MS);
  const file = { id, ownerId, key, filename, size: request.size, contentType, scanStatus: plannedScanStatus(scanner.backend) };
  const bucket = config.s3.bucket;

  if (request.size <= config.multipartThresholdBytes) {
    await reservePendingFile(file, expiresAt, undefined, stagingKey(key));
    const url = await getSignedUrl(
      getPresignS3(),
      new PutObjectCommand({ Bucket: bucket, Key: stagingKey(key), ContentType: contentType, ContentLength: request.size }),
      { expiresIn, signableHeaders: new Set(['content-type', 'content-length']) },
    );
    return { id, key, expires_in: expiresIn, upload: { method: 'PUT', url, headers: { 'Content-Type': contentType } } };
  }

  await assertWithinQuota(ownerId, request.size); // before creating anything in storage; reserve re-checks atomically
  const partSize = partSizeFor(request.size);
  const created = await getS3().send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType, Metadata: { 'owner-id': ownerId, 'file-id': id } }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  try {
    await reservePendingFile(file, expiresAt, { uploadId, partSize });
  } catch (error) {
    await abortMultipart(key, uploadId).catch((cleanup: unknown) =>
      logger.warn('Could not abort a multipart upload; the bucket lifecycle rule will', { key, error: cleanup as Error }),
    );
    throw error;
  }
  const count = Math.ceil(request.size / partSize);
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      // Each part's length is signed too: no part can carry more than its share of the plan.
      const length = index === count - 1 ? request.size - partSize * (count - 1) : partSize;
      const command = new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, ContentLength: length });
      return { part_number: index + 1, url: await getSignedUrl(getPresignS3(), command, { expiresIn, signableHeaders: new Set(['content-length']) }) };
    }),
  );
  return { id, key, expires_in: expiresIn, upload: { method: 'multipart', part_size: partSize, parts } };
}

interface PendingRow {
  id: string;
  key: string;
  filename: string;
  size: number;
  content_type: string;
  status: 'pending' | 'stored';
  upload_id: string | null;
  expires_at: string | null;
  scan_status: ScanStatus;
}

/** S3's answers for a completion whose part list does not match what was uploaded. */
const PART_MISMATCH = new Set(['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall']);

/** How long a completion holds its plan: well past the function's timeout, so a crashed one frees it. */
const COMPLETION_CLAIM_MS = 60_000;
/** How long a racing completion waits for the one in progress before answering 409. */
const COMPLETION_WAIT_MS = 10_000;
const COMPLETION_POLL_MS = 50;

/**
 * Verifies what arrived and makes it a stored file: the object exists, its size is the
 * declared size, and its leading bytes match the declared type. On any mismatch the object
 * and the plan are deleted and the answer is a 4xx, so a lie is never listed. Only the
 * planner may complete (anyone else gets 404); completing twice returns the same answer.
 *
 * One completion at a time works on a plan: it first claims the plan's row. Racing calls
 * wait for it and then answer what it left: the stored file (the same 200), or 404 once a lie
 * was refused and the plan deleted. Without the claim, a loser's copy or HEAD would meet the
 * objects the winner had just moved (a 500), or overwrite the winner's verified object.
 *
 * A single PUT lands on a staging key and is copied to the real key before it is verified, so
 * its still-valid URL can neither swap the bytes under the checks nor overwrite the stored file
 * later. A multipart upload is completed in place: once completed, its part URLs are dead.
 *
 * With clamd the verified object (at the real key) is streamed from storage to clamd, never
 * held in memory: infected is 422 with the object and plan deleted (audit `file.infected`); an
 * unreachable scanner is 503 and the plan stays pending, so a retry completes it; too large to
 * scan (clamd's `StreamMaxLength` below `SCAN_MAX_BYTES`) is 413 with object and plan deleted,
 * since the same bytes can never pass and a pending plan would only hold quota until it expired.
 */
export async function completeUpload(
  ownerId: string,
  id: string,
  parts: ReadonlyArray<{ part_number: number; etag: string }> | undefined,
  origin: RequestOrigin,
): Promise<CompletedUpload> {
  const giveUpAt = Date.now() + COMPLETION_WAIT_MS;
  for (;;) {
    const row = await findOwnedUpload(ownerId, id);
    if (row.status === 'stored') return completed(row);
    if (row.expires_at !== null && row.expires_at <= isoSeconds()) {
      throw new HttpError(410, 'This upload plan has expired; plan a new upload');
    }
    const claim = await claimCompletion(row.id, new Date(Date.now() + COMPLETION_CLAIM_MS));
    if (claim) {
      try {
        return await completeClaimed(ownerId, row, claim, parts, origin);
      } finally {
        await releaseCompletion(row.id, claim); // a no-op once stored or deleted
      }
    }
    if (Date.now() >= giveUpAt) {
      throw new HttpError(409, 'Another completion of this upload is in progress; retry shortly', { headers: { 'Retry-After': '5' } });
    }
    await new Promise((resolve) => setTimeout(resolve, COMPLETION_POLL_MS));
  }
}

/** The verification and storing, by the one call holding the plan's completion claim. */
async function completeClaimed(
  ownerId: string,
  row: PendingRow,
  claim: string,
  parts: ReadonlyArray<{ part_number: number; etag: string }> | undefined,
  origin: RequestOrigin,
): Promise<CompletedUpload> {
  const bucket = getConfig().s3.bucket;
  const scanner = getScanner();
  const landed = row.upload_id ? row.key : stagingKey(row.key);

  if (row.upload_id) {
    if (!parts?.length) {
      throw new HttpError(422, '/parts: the part numbers and ETags of a multipart upload are required', {
        errors: [{ pointer: '/parts', detail: 'required for a multipart upload' }],
      });
    }
    try {
      await getS3().send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: row.key,
          UploadId: row.upload_id,
          MultipartUpload: {
            Parts: [...parts].sort((a, b) => a.part_number - b.part_number).map((part) => ({ PartNumber: part.part_number, ETag: part.etag })),
          },
        }),
      );
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      // Completed already by a completion that died before storing it: verify what it made.
      // (Aborted by the sweep instead: the HEAD below finds nothing and the answer is 409.)
      if (name !== 'NoSuchUpload') {
        if (PART_MISMATCH.has(name)) {
          throw new HttpError(422, 'The parts do not match what was uploaded (part numbers, ETags, or a part under 5 MiB)', { cause: error });
        }
        throw error;
      }
    }
  } else {
    // Copy first, verify after: the checks below read the object that will be served, at a key
    // the client cannot write. Checking the staging object and then copying it would let the
    // still-valid PUT URL swap in other bytes of the same length between check and copy.
    try {
      await copyObject(landed, row.key, row.content_type, ownerId, row.id);
    } catch (error) {
      if ((error as { name?: string }).name !== 'NoSuchKey') throw error;
      throw new HttpError(409, 'Nothing has been uploaded for this plan yet', { cause: error });
    }
  }
  /** A lie: the plan, the copy and what arrived are deleted. */
  const reject = async (problem: HttpError): Promise<never> => {
    if (await forgetPendingFile(row.id, claim)) {
      await deleteObject(row.key);
      if (landed !== row.key) await deleteObject(landed);
    }
    throw problem;
  };
  let head;
  try {
    head = await getS3().send(new HeadObjectCommand({ Bucket: bucket, Key: row.key }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'NotFound') throw error;
    throw new HttpError(409, 'Nothing has been uploaded for this plan yet', { cause: error });
  }
  if (head.ContentLength !== row.size) {
    return reject(new HttpError(422, `The uploaded object is ${head.ContentLength ?? 0} bytes, not the declared ${row.size}`));
  }
  let contentType: string;
  try {
    const verified = await verifyContentType(row.content_type, await readHead(row.key));
    assertAllowedType(verified);
    contentType = verified.type;
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return reject(error);
  }
  if (scanner.backend === 'clamd') {
    let verdict;
    try {
      verdict = await scanOrFail(scanner, await readObject(row.key));
    } catch (error) {
      // 503 (unavailable) leaves everything in place for a retry; 413 can never pass: refused.
      if (error instanceof HttpError && error.status === 413) return reject(error);
      throw error;
    }
    if (verdict.status === 'infected') {
      return reject(await malwareDetected(verdict.signature, { ownerId, fileId: row.id, filename: row.filename, size: row.size, direct: true }, origin));
    }
  }
  // A declared application/octet-stream is stored as what its bytes are: the object says so too.
  // Single PUTs only: CopyObject stops at 5 GiB, and a multipart object may be larger (its
  // object keeps the declared type; downloads are attachments either way).
  if (contentType !== row.content_type && !row.upload_id) await copyObject(row.key, row.key, contentType, ownerId, row.id);
  if (!(await markStored(row.id, row.size, contentType, storedScanStatus(scanner.backend), claim))) return settled(ownerId, row.id, row.key);
  if (landed !== row.key) await deleteObject(landed);
  // Re-read: with GuardDuty a verdict may already have arrived (markStored keeps it).
  return completed((await ownedUploadRow(ownerId, row.id)) ?? { ...row, content_type: contentType });
}

/**
 * Server-side copy (to itself: a metadata update) with the file's type and ownership metadata.
 * Tags are not copied (`TaggingDirective: REPLACE` with none): a GuardDuty verdict tag belongs
 * to the object it scanned, and the copy is a new object that GuardDuty scans (and tags) itself.
 */
async function copyObject(from: string, to: string, contentType: string, ownerId: string, fileId: string): Promise<void> {
  const bucket = getConfig().s3.bucket;
  await getS3().send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: to,
      CopySource: `${bucket}/${from}`, // keys are [A-Za-z0-9._/-] only: nothing to encode
      ContentType: contentType,
      MetadataDirective: 'REPLACE',
      Metadata: { 'owner-id': ownerId, 'file-id': fileId },
      TaggingDirective: 'REPLACE',
    }),
  );
}

/**
 * After a completion could not store its plan: the file is stored (a completion that took over
 * a lapsed claim won) and that answer stands, or the plan expired or was swept, in which case
 * whatever this call put at the real key is removed (if the sweep has not) and the answer is 410.
 */
async function settled(ownerId: string, id: string, key: string): Promise<CompletedUpload> {
  const row = await ownedUploadRow(ownerId, id);
  if (row?.status === 'stored') return completed(row);
  if (!row) await deleteObject(key);
  throw new HttpError(410, 'This upload plan has expired; plan a new upload');
}

/**
 * Deletes plans that expired without completing: their multipart uploads are aborted and any
 * object they left (staging or real key) is removed. Each plan is first claimed by deleting its
 * pending row, so a file that a completion stored in the meantime is never touched, and a plan
 * whose completion is still running (an unlapsed claim) is left for a later sweep. Then, in
 * batches too, the staging keys whose PUT URL has expired (see {@link sweepStagingLeftovers}).
 * Runs on a schedule in AWS (besides the bucket's lifecycle rules) and periodically in the
 * local runtime.
 *
 * @returns how many plans were removed
 */
export async function sweepExpiredUploads(now: Date = new Date(), batch = 500): Promise<number> {
  const db = getDb();
  const cutoff = isoSeconds(now);
  const rows = (await db.all(`SELECT id, key, upload_id FROM files
      WHERE status = 'pending' AND expires_at <= ? AND (completion_token IS NULL OR completion_until <= ?) LIMIT ?`, cutoff, cutoff, batch)) as Array<Pick<PendingRow, 'id' | 'key' | 'upload_id'>>;
  let removed = 0;
  for (const row of rows) {
    // Not under a completion in progress: it would meet its objects gone (a 500, or a false
    // "nothing uploaded"). It cannot store an expired plan; it answers 410 and releases the
    // claim (or its claim lapses, if it crashed), and a later sweep takes the plan.
    const claimed =
      (await db.run(`DELETE FROM files WHERE id = ? AND status = 'pending' AND expires_at <= ?
          AND (completion_token IS NULL OR completion_until <= ?)`, row.id, cutoff, cutoff)).changes === 1;
    if (!claimed) continue;
    removed += 1;
    try {
      if (row.upload_id) await abortMultipart(row.key, row.upload_id);
      await deleteObject(stagingKey(row.key));
      await deleteObject(row.key); // a completion that died between storage and database
    } catch (error) {
      logger.warn('Could not remove the objects of an expired upload; lifecycle rules will', { fileId: row.id, error: error as Error });
    }
  }
  const leftovers = await sweepStagingLeftovers(now, batch);
  if (leftovers > 0) logger.info('Removed staging objects of expired upload URLs', { count: leftovers });
  return removed;
}

/**
 * Deletes up to `batch` staging keys whose presigned PUT URL has expired. Completion deletes
 * the staging object, but the URL stays valid until it expires and can write it again: such
 * objects are outside the quota and any listing, so they are removed here, and only once no
 * URL can write them any more. A key whose delete fails stays recorded, for the next sweep.
 *
 * @returns how many keys were removed
 */
export async function sweepStagingLeftovers(now: Date = new Date(), batch = 500): Promise<number> {
  const db = getDb();
  const due = (await db.all('SELECT key FROM staging_leftovers WHERE sweep_after <= ? ORDER BY sweep_after LIMIT ?', isoSeconds(now),
    batch)) as Array<{ key: string }>;
  let removed = 0;
  for (const { key } of due) {
    try {
      await deleteObject(key);
    } catch (error) {
      logger.warn('Could not remove a staging object; the next sweep retries', { key, error: error as Error });
      continue;
    }
    (await db.run('DELETE FROM staging_leftovers WHERE key = ?', key));
    removed += 1;
  }
  return removed;
}

/**
 * Removes a deleted account's objects from storage (see collectOwnerObjectsInTransaction):
 * aborts its multipart uploads, deletes stored objects and staging copies. Best effort, one
 * object at a time: what fails stays tombstoned for the sweep. Resolves with how many keys went.
 */
export async function removeOwnerObjects(objects: readonly OwnedObject[]): Promise<number> {
  let removed = 0;
  for (const object of objects) {
    const keys = object.status === 'pending' ? [object.key, stagingKey(object.key)] : [object.key];
    try {
      if (object.uploadId) await abortMultipart(object.key, object.uploadId);
      for (const key of keys) {
        await deleteObject(key);
        await forgetRemovedKey(key);
        removed += 1;
      }
    } catch (error) {
      logger.warn('Could not remove an object of a deleted account; the sweep retries', { key: object.key, error: error as Error });
    }
  }
  return removed;
}

async function ownedUploadRow(ownerId: string, id: string): Promise<PendingRow | undefined> {
  return (await getDb().get('SELECT id, key, filename, size, content_type, status, upload_id, expires_at, scan_status FROM files WHERE id = ? AND owner_id = ?', id, ownerId)) as PendingRow | undefined;
}

/** The caller's upload (pending or stored), or 404 whether it does not exist or is not theirs. */
async function findOwnedUpload(ownerId: string, id: string): Promise<PendingRow> {
  const row = await ownedUploadRow(ownerId, id);
  if (!row) throw fileNotFound();
  return row;
}

async function completed(row: Pick<PendingRow, 'id' | 'key' | 'filename' | 'size' | 'content_type' | 'scan_status'>): Promise<CompletedUpload> {
  return {
    id: row.id,
    filename: row.filename,
    key: row.key,
    url: isServable(row) ? await presignDownload(row.key, row.filename) : null,
    status: 'uploaded',
    size: row.size,
    content_type: row.content_type,
    scan_status: row.scan_status,
  };
}

/** The whole object as a Node stream (for the scanner, which reads it with backpressure). */
async function readObject(key: string): Promise<Readable> {
  const object = await getS3().send(new GetObjectCommand({ Bucket: getConfig().s3.bucket, Key: key }));
  if (object.Body instanceof Readable) return object.Body;
  throw new Error('GetObject returned no Node stream');
}

async function readHead(key: string): Promise<Uint8Array> {
  const object = await getS3().send(new GetObjectCommand({ Bucket: getConfig().s3.bucket, Key: key, Range: `bytes=0-${SNIFF_BYTES - 1}` }));
  return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
}

async function abortMultipart(key: string, uploadId: string): Promise<void> {
  try {
    await getS3().send(new AbortMultipartUploadCommand({ Bucket: getConfig().s3.bucket, Key: key, UploadId: uploadId }));
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    // Already gone (completed, aborted, or expired by the bucket's lifecycle rule) is fine.
    if (name === 'NoSuchUpload') return;
    // Servers without abort (s3rver) keep the parts; in AWS the bucket lifecycle rule removes them.
    if (name === 'MethodNotAllowed' || name === 'NotImplemented') {
      logger.debug('Storage cannot abort multipart uploads; leaving the parts to its own cleanup', { key });
      return;
    }
    throw error;
  }
}
