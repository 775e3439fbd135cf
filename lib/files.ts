import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getConfig } from './config';
import { getDb, statement } from './db/connection';
import { logger } from './logger';
import { displayFilename, objectKey } from './storage/keys';
import { presignDownload } from './storage/presign';
import { getS3 } from './storage/s3';
import { isoSeconds } from './time';

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

/**
 * Stores one file for its owner: the object under a fresh per-upload key, then its row in
 * `files`. If the row cannot be written the object is removed again, so storage never holds
 * an object the API does not know about.
 */
export async function storeUpload(ownerId: string, file: IncomingFile): Promise<UploadResult> {
  const config = getConfig();
  const id = randomUUID();
  const filename = displayFilename(file.filename);
  const key = objectKey(ownerId, id, filename);

  await getS3().send(
    new PutObjectCommand({
      Bucket: config.s3.bucket,
      Key: key,
      Body: file.content,
      ContentType: file.contentType,
      ContentLength: file.content.length,
      Metadata: { 'owner-id': ownerId, 'file-id': id },
    }),
  );
  try {
    statement(
      getDb(),
      'INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(id, ownerId, key, filename, file.content.length, file.contentType, isoSeconds());
  } catch (error) {
    await getS3()
      .send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: key }))
      .catch((cleanup: unknown) => logger.error('Could not remove orphaned object', { key, error: cleanup as Error }));
    throw error;
  }
  return { id, filename, key, url: await presignDownload(key, filename), status: 'uploaded' };
}
