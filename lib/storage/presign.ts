import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { getConfig } from '../config';
import { getPresignS3 } from './s3';

/**
 * A presigned GET for the public endpoint that always downloads as an attachment: an uploaded
 * HTML or SVG file must never render (and run script) on the storage origin. Valid
 * `PRESIGNED_URL_EXPIRE_SECONDS`, or at most `maxSeconds` when given (share links hand out
 * short-lived URLs, so revoking a share leaves little behind).
 */
export function presignDownload(key: string, filename: string, maxSeconds?: number): Promise<string> {
  const config = getConfig();
  const expiresIn = maxSeconds === undefined ? config.presignedUrlExpireSeconds : Math.min(maxSeconds, config.presignedUrlExpireSeconds);
  return getSignedUrl(
    getPresignS3(),
    new GetObjectCommand({ Bucket: config.s3.bucket, Key: key, ResponseContentDisposition: attachment(filename) }),
    { expiresIn },
  );
}

/** RFC 6266 `attachment` with an ASCII fallback and the exact UTF-8 name (RFC 8187). */
export function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
