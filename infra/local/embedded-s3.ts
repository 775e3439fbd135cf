import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import S3rver from 's3rver';

/** s3rver's built-in account. */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface EmbeddedS3Options {
  readonly host: string;
  readonly port: number;
  readonly directory: string;
  readonly bucket: string;
  /** Origins browsers may PUT from (presigned uploads); empty means any. */
  readonly corsOrigins?: readonly string[];
}

export interface EmbeddedS3 {
  readonly port: number;
  close(): Promise<void>;
}

/** The S3 error s3rver's own code uses, so its XML error answers stay S3's. */
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string) => Error;

interface MultipartStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putObjectMultipart(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<unknown>;
}

/**
 * An S3-compatible server (s3rver) for running with nothing but Node, on our own HTTP server:
 * s3rver's `run()` lets a busy port escape as an unhandled 'error' event instead of rejecting.
 *
 * One gap of s3rver is closed here because a client can reach it: completing a multipart
 * upload with a part that was never uploaded made s3rver open a missing file on a stream
 * nobody listens to, an uncaught exception that killed the whole process. S3 answers
 * `InvalidPart` (400) for that, and for an ETag that does not match; so does this server now.
 */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const s3rver = new S3rver({
    address: options.host,
    port: options.port,
    silent: true,
    directory: options.directory,
    vhostBuckets: false,
    configureBuckets: [{ name: options.bucket, configs: [corsConfiguration(options.corsOrigins ?? [])] }],
  });
  guardMultipartCompletion((s3rver as unknown as { store: MultipartStore }).store);
  await s3rver.configureBuckets();
  const server = http.createServer(s3rver.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function guardMultipartCompletion(store: MultipartStore): void {
  const complete = store.putObjectMultipart.bind(store);
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const directory = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    for (const part of parts) {
      const file = path.join(directory, String(part.number));
      const content = await fs.promises.readFile(file).catch(() => undefined);
      if (!content || createHash('md5').update(content).digest('hex') !== part.etag) {
        throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found or its ETag does not match.');
      }
    }
    return complete(bucket, uploadId, parts);
  };
}

/** Lets browsers PUT straight to the embedded server and read the ETag of each part. */
function corsConfiguration(origins: readonly string[]): string {
  const allowed = (origins.length ? origins : ['*']).map((origin) => `<AllowedOrigin>${origin}</AllowedOrigin>`).join('');
  const methods = ['GET', 'HEAD', 'PUT', 'POST'].map((method) => `<AllowedMethod>${method}</AllowedMethod>`).join('');
  return `<CORSConfiguration><CORSRule>${allowed}${methods}<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;
}
