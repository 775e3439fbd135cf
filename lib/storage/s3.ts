import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { getConfig } from '../config';
import { optionalTracing } from '../tracing-switch';

let internal: S3Client | undefined;
let signer: S3Client | undefined;

function createClient(endpoint: string | undefined): S3Client {
  const { s3 } = getConfig();
  const options: S3ClientConfig = {
    region: s3.region,
    // Since 3.729 the SDK adds CRC32 checksums to every request, which presigned PUTs cannot
    // carry and MinIO/s3rver do not all accept: only send them where S3 requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // From 2 MiB on the SDK sends `Expect: 100-continue`, and sends it on a fresh connection
    // (no keep-alive) to wait for the server's go-ahead: a TCP and TLS handshake plus a round
    // trip on every such PUT. Our PUTs are at most Lambda's ~4.7 MB payload, already in
    // memory and signed; what a refusal would save is not worth that on every success.
    expectContinueHeader: false,
  };
  if (endpoint) {
    options.endpoint = endpoint;
    options.forcePathStyle = true; // MinIO and s3rver serve buckets as paths, not subdomains
  }
  if (s3.accessKeyId && s3.secretAccessKey) {
    options.credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  }
  const client = new S3Client(options);
  return optionalTracing()?.captureClient(client) ?? client;
}

/** The client that talks to storage from inside (reads, writes, deletes). */
export function getS3(): S3Client {
  internal ??= createClient(getConfig().s3.endpoint);
  return internal;
}

/**
 * The client that signs URLs for clients outside. A SigV4 signature covers the Host header,
 * so it must be made for the public address (`S3_PUBLIC_ENDPOINT`); a URL rewritten after
 * signing (the seed's `http://minio:9000` links) no longer verifies.
 */
export function getPresignS3(): S3Client {
  const { endpoint, publicEndpoint } = getConfig().s3;
  if (publicEndpoint === endpoint) return getS3();
  signer ??= createClient(publicEndpoint);
  return signer;
}

/** Drops both clients (tests, local runtime shutdown). */
export function resetS3(): void {
  internal?.destroy();
  if (signer !== internal) signer?.destroy();
  internal = signer = undefined;
}
