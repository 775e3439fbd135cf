import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import querystring from 'node:querystring';
import { Readable, Transform, finished } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import { verifySigV4, type S3ErrorAnswer } from './sigv4-verifier';

/** An access key pair the embedded server accepts. */
export interface EmbeddedS3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * s3rver's well-known default pair, for tests' throwaway servers only: it is public, so anyone
 * who reaches the port (or any web page, through the bucket's CORS rule) could sign with it.
 * The local runtime passes configured or generated credentials instead.
 */
export const EMBEDDED_S3_CREDENTIALS: EmbeddedS3Credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface EmbeddedS3Options {
  /** Interface to listen on; loopback unless told otherwise. */
  readonly host?: string;
  readonly port: number;
  readonly directory: string;
  readonly bucket: string;
  /** The only access key pair whose signatures are accepted. */
  readonly credentials: EmbeddedS3Credentials;
  /** The region signatures must be scoped to (S3 refuses others); default us-east-1. */
  readonly region?: string;
  /** Origins browsers may PUT from (presigned uploads); empty means any. */
  readonly corsOrigins?: readonly string[];
}

export interface EmbeddedS3 {
  readonly port: number;
  /**
   * Replaces the bucket's CORS origins (empty means every origin). The local runtime adds the web
   * client's own origin once the API's port is known (after this server started).
   */
  allowOrigins(origins: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

interface AWSAccountModel {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  revokeAccessKey(accessKeyId: string): void;
}
/**
 * s3rver's own (signature version 2 only) check wants the access key in its process-wide
 * account registry; the SigV4 verifier in front is what decides, so the key is registered
 * while a server that accepts it runs (counted: tests run several servers in one process).
 */
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: AWSAccountModel };
const registeredKeys = new Map<string, number>();
function registerKey({ accessKeyId, secretAccessKey }: EmbeddedS3Credentials): () => void {
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  registeredKeys.set(accessKeyId, (registeredKeys.get(accessKeyId) ?? 0) + 1);
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    const left = (registeredKeys.get(accessKeyId) ?? 1) - 1;
    if (left > 0) return void registeredKeys.set(accessKeyId, left);
    registeredKeys.delete(accessKeyId);
    // s3rver's own pair stays, as s3rver's module registered it.
    if (accessKeyId !== EMBEDDED_S3_CREDENTIALS.accessKeyId) DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
  };
}

type S3ErrorInstance = Error & { status: number };
/** The S3 error s3rver's own code uses, so its XML error answers stay S3's. */
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, string>) => S3ErrorInstance;

interface StoredObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

interface CorsRule {
  readonly hasWildcardOrigin: boolean;
  readonly exposeHeaders: readonly string[];
  readonly maxAgeSeconds?: number;
}

/** The parts of s3rver's FilesystemStore this file wraps. */
interface FilesystemStore {
  readonly rootDirectory: string;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: number | string, content: Readable): Promise<{ size: number; md5: string }>;
  putObjectMultipart(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<unknown>;
  getSubresource(bucket: string, key: undefined, type: 'cors'): Promise<{ matchRule(origin: string, method: string): CorsRule | undefined } | null>;
  putSubresource(bucket: string, key: undefined, resource: unknown): Promise<void>;
}

/** s3rver's bucket configuration models (CORS and website documents), parsed and validated. */
const { getConfigModel } = require('s3rver/lib/models/config') as { getConfigModel(type: 'cors'): { validate(xml: string): unknown } };

/** s3rver is a Koa application; this is what of Koa it needs here. */
interface KoaApp {
  middleware: Array<(ctx: { req: http.IncomingMessage }, next: () => Promise<void>) => Promise<void>>;
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/** The payload hash each verified request's signature claims, for the body check inside s3rver. */
const claimedSha256 = new WeakMap<http.IncomingMessage, string>();

/**
 * An S3-compatible server (s3rver) for running with nothing but Node, on our own HTTP server
 * (s3rver's `run()` lets a busy port escape as an unhandled 'error' event instead of rejecting),
 * made as strict as S3 where the product's security depends on it:
 *
 * - Every request but a CORS preflight must carry a valid AWS Signature Version 4, in the
 *   Authorization header or in the query string (presigned URLs): s3rver itself checks only
 *   that the access key exists. So a URL whose signed Content-Length, Content-Type or
 *   `response-content-disposition` was changed, an expired URL, a tampered signature or an
 *   anonymous request is refused with S3's 403 and XML error, as AWS would. Only the one key
 *   pair given is accepted, never s3rver's public default.
 * - No request reaches outside its bucket's folder: s3rver makes file paths of the bucket, the
 *   key, `uploadId` and `partNumber` unchecked (see {@link checkTargets}, {@link confineToBuckets}).
 * - A body whose signed SHA-256 (`x-amz-content-sha256`) does not match is refused
 *   (XAmzContentSHA256Mismatch), checked while it streams; bodies are never held in memory.
 * - Objects and parts are written to a temporary file and renamed into place, so a failed,
 *   aborted or refused upload never leaves a partial object and readers never see a torn one.
 * - Completing a multipart upload with a part that was never uploaded made s3rver open a
 *   missing file on a stream nobody listens to, an uncaught exception that killed the process.
 *   S3 answers `InvalidPart` (400) for that, and for an ETag that does not match; so does this.
 */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const host = options.host ?? '127.0.0.1';
  const s3rver = new S3rver({
    address: host,
    port: options.port,
    silent: true,
    directory: options.directory,
    vhostBuckets: false,
    configureBuckets: [{ name: options.bucket, configs: [corsConfiguration(options.corsOrigins ?? [])] }],
  });
  const store = (s3rver as unknown as { store: FilesystemStore }).store;
  confineToBuckets(store);
  guardMultipartCompletion(store);
  writeAtomically(store);
  const app = s3rver as unknown as KoaApp;
  // First in s3rver's chain: whatever reads the body (object, part, XML documents) reads it checked.
  app.middleware.unshift(async (ctx, next) => {
    const sha256 = claimedSha256.get(ctx.req);
    if (sha256) ctx.req = checkedBody(ctx.req, sha256);
    await next();
  });
  await s3rver.configureBuckets();

  const handle = app.callback();
  const region = options.region ?? 'us-east-1';
  const { accessKeyId, secretAccessKey } = options.credentials;
  const secretFor = (id: string) => (id === accessKeyId ? secretAccessKey : undefined);
  const admit = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const verdict = await verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headersDistinct }, { secretFor, region });
    if (!verdict.ok) return refuse(store, req, res, verdict.error);
    const unsafe = await checkTargets(store, req);
    if (unsafe) return refuse(store, req, res, unsafe);
    if (req.method === 'PUT' && req.headers['content-length'] === undefined) {
      return refuse(store, req, res, { status: 411, code: 'MissingContentLength', message: 'You must provide the Content-Length HTTP header.' });
    }
    if (verdict.payload.kind === 'sha256') {
      // An empty body is judged now: it would end before s3rver is there to hear the verdict.
      const empty = req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined);
      if (empty && verdict.payload.sha256 !== EMPTY_SHA256) return refuse(store, req, res, sha256Mismatch(verdict.payload.sha256, EMPTY_SHA256));
      // Only PUT and POST bodies are read by s3rver; the check rides on that read.
      if (!empty && (req.method === 'PUT' || req.method === 'POST')) claimedSha256.set(req, verdict.payload.sha256);
    }
    handle(req, res);
  };
  const server = http.createServer((req, res) => {
    finalizeResponse(req, res, server.keepAliveTimeout);
    // Browsers send preflights without credentials; s3rver answers them from the bucket's CORS rules.
    if (req.method === 'OPTIONS') return handle(req, res);
    admit(req, res).catch((error: unknown) =>
      refuse(store, req, res, { status: 500, code: 'InternalError', message: `We encountered an internal error: ${String(error)}` }).catch(() => res.destroy()),
    );
  });
  const unregisterKey = registerKey(options.credentials);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  }).catch((error: unknown) => {
    unregisterKey();
    throw error;
  });
  return {
    port: (server.address() as AddressInfo).port,
    allowOrigins: (origins) => store.putSubresource(options.bucket, undefined, getConfigModel('cors').validate(corsConfiguration(origins))),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          unregisterKey();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/**
 * s3rver's store names files after what the request says: the bucket and each key segment
 * become folders, `uploadId` a folder and `partNumber` a file name, none of them checked, so a
 * signed `UploadId=../../..` or key `../../x` wrote and deleted outside DATA_DIR. These are
 * the request's targets checked before s3rver sees them, as S3 answers for them: an upload id
 * s3rver did not make is `NoSuchUpload`, a part number outside 1..10000 `InvalidArgument`.
 * {@link confineToBuckets} is the second line, on the paths themselves.
 */
async function checkTargets(store: FilesystemStore, req: http.IncomingMessage): Promise<S3ErrorAnswer | undefined> {
  const url = req.url ?? '/';
  const at = url.indexOf('?');
  // Decoded as s3rver's router does (the verifier already refused malformed escapes).
  const [, rawBucket = '', ...rawKey] = (at === -1 ? url : url.slice(0, at)).split('/');
  const bucket = decodeURIComponent(rawBucket);
  const key = decodeURIComponent(rawKey.join('/'));
  // As Koa parses `ctx.query` for s3rver.
  const query = querystring.parse(at === -1 ? '' : url.slice(at + 1));
  const problem = (bucket ? bucketProblem(bucket) : undefined) ?? (key ? keyProblem(key) : undefined) ?? copySourceProblem(copySource(req));
  if (problem) return problem;

  if ('uploadId' in query) {
    const uploadId = query.uploadId;
    const exists = typeof uploadId === 'string' && bucket !== '' && (await existingUpload(store, bucket, uploadId).then(() => true, () => false));
    if (!exists) {
      return {
        status: 404,
        code: 'NoSuchUpload',
        message: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        detail: { UploadId: String(uploadId) },
      };
    }
  }
  const partNumber = query.partNumber;
  if (partNumber !== undefined || (req.method === 'PUT' && 'uploadId' in query)) {
    if (typeof partNumber !== 'string' || !validPartNumber(partNumber)) {
      return { status: 400, code: 'InvalidArgument', message: PART_NUMBER_MESSAGE, detail: { ArgumentName: 'partNumber', ArgumentValue: String(partNumber ?? '') } };
    }
  }
  return undefined;
}

const PART_NUMBER_MESSAGE = 'Part number must be an integer between 1 and 10000, inclusive';
const validPartNumber = (value: string) => /^[1-9]\d{0,4}$/.test(value) && Number(value) <= 10_000;

/** The form of the upload ids s3rver makes (`crypto.randomBytes(16).toString('hex')`). */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** The folder of an upload s3rver started; NoSuchUpload for any other id. */
async function existingUpload(store: FilesystemStore, bucket: string, uploadId: string): Promise<string> {
  const noSuchUpload = () => new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
  if (!UPLOAD_ID.test(uploadId)) throw noSuchUpload();
  const directory = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const stat = await fs.promises.stat(directory).catch(() => undefined);
  if (!stat?.isDirectory()) throw noSuchUpload();
  return directory;
}

/** S3's rule for bucket names (no `/`, no `..`): s3rver checks it only when creating one. */
const BUCKET_NAME = /^[a-z0-9](?!.*\.\.)[a-z0-9.-]{1,61}[a-z0-9]$/;

function bucketProblem(bucket: string): S3ErrorAnswer | undefined {
  if (BUCKET_NAME.test(bucket)) return undefined;
  return { status: 400, code: 'InvalidBucketName', message: 'The specified bucket is not valid.', detail: { BucketName: bucket } };
}

const MAX_KEY_BYTES = 1024;
/** A file name's limit, less the longest suffix s3rver adds to a key's last segment (`._S3rver_metadata.json`). */
const MAX_SEGMENT_BYTES = 255 - '._S3rver_metadata.json'.length;

/**
 * In S3 a key is any string of at most 1024 bytes, `..` included. This server stores each key
 * segment as a folder or file, so it refuses what would name another place than the key's own:
 * `.` and `..` segments, NUL, segments in s3rver's own namespace (`._S3rver_uploads`, the
 * `._S3rver_object` files) and segments too long for a file name. The product never makes
 * such keys (lib/storage/keys.ts: `{userId}/{fileId}-{safe name}`, no leading dots), so
 * refusing them costs nothing and no request can reach outside its bucket.
 */
function keyProblem(key: string): S3ErrorAnswer | undefined {
  const size = Buffer.byteLength(key);
  if (size > MAX_KEY_BYTES) {
    return { status: 400, code: 'KeyTooLongError', message: 'Your key is too long', detail: { Size: String(size), MaxSizeAllowed: String(MAX_KEY_BYTES) } };
  }
  const invalid = (reason: string): S3ErrorAnswer => ({
    status: 400,
    code: 'InvalidArgument',
    message: `The embedded S3 server stores keys as files and cannot store this one: ${reason}`,
    detail: { ArgumentName: 'key', ArgumentValue: key.replace(/\0/g, '\\0') },
  });
  if (key.includes('\0')) return invalid('it contains a NUL character');
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..') return invalid("it has a '.' or '..' segment");
    if (segment.startsWith('._S3rver_')) return invalid("a segment starts with '._S3rver_', which s3rver keeps for itself");
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
      return { status: 400, code: 'KeyTooLongError', message: `A segment of your key (between slashes) is longer than the embedded S3 server can store (${MAX_SEGMENT_BYTES} bytes)` };
    }
  }
  return undefined;
}

const copySource = (req: http.IncomingMessage) => {
  const value = req.headers['x-amz-copy-source'];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** `x-amz-copy-source: /bucket/key`, read as s3rver reads it (`decodeURI`). */
function copySourceProblem(header: string | undefined): S3ErrorAnswer | undefined {
  if (header === undefined) return undefined;
  let source: string;
  try {
    source = decodeURI(header);
  } catch {
    return { status: 400, code: 'InvalidArgument', message: 'Invalid copy source encoding', detail: { ArgumentName: 'x-amz-copy-source' } };
  }
  const [bucket = '', ...key] = (source.startsWith('/') ? source.slice(1) : source).split('/');
  return bucketProblem(bucket) ?? keyProblem(key.join('/'));
}

/**
 * The second line behind {@link checkTargets}: every path the store builds for a bucket or a
 * key must lie inside that bucket's folder under the server's directory, whoever asks (the
 * request's key, a copy source, a key read back from an upload's folder).
 */
function confineToBuckets(store: FilesystemStore): void {
  const root = path.resolve(store.rootDirectory);
  const refuse = (problem: S3ErrorAnswer) => Object.assign(new S3Error(problem.code, problem.message, problem.detail), { status: problem.status });
  const bucketPath = store.getBucketPath.bind(store);
  store.getBucketPath = (bucket) => {
    const problem = bucketProblem(bucket);
    if (problem) throw refuse(problem);
    const resolved = path.resolve(bucketPath(bucket));
    if (path.dirname(resolved) !== root) throw refuse(bucketProblem('..') as S3ErrorAnswer);
    return resolved;
  };
  const resourcePath = store.getResourcePath.bind(store);
  store.getResourcePath = (bucket, key, resource) => {
    const problem = bucketProblem(bucket) ?? (key ? keyProblem(key) : undefined);
    if (problem) throw refuse(problem);
    const resolved = path.resolve(resourcePath(bucket, key, resource));
    if (!resolved.startsWith(path.join(root, bucket) + path.sep)) {
      throw refuse({ status: 400, code: 'InvalidArgument', message: 'The key names a place outside its bucket', detail: { ArgumentName: 'key' } });
    }
    return resolved;
  };
}

/** How long a body nobody reads may pause before its connection is closed. */
const UNREAD_BODY_IDLE_MS = 500;
/** A body nobody reads is not waited for at all if it is larger than this. */
const UNREAD_BODY_MAX_BYTES = 64 * 1024 ** 2;

/**
 * What every response gets, whoever writes it (s3rver or {@link refuse}):
 * - `Access-Control-Allow-Credentials` only with a named origin; with `*` browsers refuse it
 *   and it only claims more than is allowed.
 * - A response sent before the request's body arrived (a refusal, an error): Node then reads
 *   and discards the rest to keep the connection, and a client that never sends it held the
 *   connection until the 5 s keep-alive timeout. A client still sending may finish (so it can
 *   read the answer instead of a broken pipe), but a pause or a large remainder closes it.
 */
function finalizeResponse(req: http.IncomingMessage, res: http.ServerResponse, keepAliveTimeout: number): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
    // refuse() passes its headers here and leaves the credentials header out for `*` itself.
    if (String(res.getHeader('access-control-allow-origin')) === '*') res.removeHeader('access-control-allow-credentials');
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  res.once('finish', () => {
    if (req.complete) return;
    const socket = req.socket;
    // Chunked bodies have no declared length: not waited for either.
    const declared = Number(req.headers['content-length'] ?? Number.POSITIVE_INFINITY);
    if (!(declared <= UNREAD_BODY_MAX_BYTES)) return void socket.destroy();
    const idle = () => socket.destroy();
    socket.setTimeout(UNREAD_BODY_IDLE_MS, idle);
    // Drained: back to Node's keep-alive timeout for the next request.
    req.once('end', () => {
      socket.off('timeout', idle);
      socket.setTimeout(keepAliveTimeout);
    });
  });
}

/** The body as it streams, failing at its end if its SHA-256 is not the signed one, and if it stops short. */
function checkedBody(req: http.IncomingMessage, expected: string): http.IncomingMessage {
  const hash = createHash('sha256');
  const checked = new Transform({
    // Holds every chunk until s3rver reads it, so the verdict at the end reaches a listener.
    readableHighWaterMark: 0,
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const computed = hash.digest('hex');
      if (computed === expected) return callback();
      const { code, message, detail, status } = sha256Mismatch(expected, computed);
      // s3rver's table of statuses does not know this code.
      callback(Object.assign(new S3Error(code, message, detail), { status, expose: true }));
    },
  });
  // Whoever reads the body sees the error; one nobody reads must not become an uncaught exception.
  checked.on('error', () => undefined);
  finished(req, (error) => {
    if (error) checked.destroy(new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.'));
  });
  req.pipe(checked);
  // s3rver reads only the stream (headers come from Koa's request), so the checked stream stands in for it.
  return checked as unknown as http.IncomingMessage;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

function sha256Mismatch(claimed: string, computed: string): Required<S3ErrorAnswer> {
  return {
    status: 400,
    code: 'XAmzContentSHA256Mismatch',
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
    detail: { ClientComputedContentSHA256: claimed, S3ComputedContentSHA256: computed },
  };
}

/** S3's XML error document, with the bucket's CORS headers so a browser can read it. */
async function refuse(store: FilesystemStore, req: http.IncomingMessage, res: http.ServerResponse, error: S3ErrorAnswer): Promise<void> {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const detail = Object.entries(error.detail ?? {})
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join('');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${detail}<RequestId>${requestId}</RequestId></Error>`;
  const cors = await corsHeaders(store, req).catch(() => ({}));
  if (res.headersSent || res.destroyed) return;
  res.writeHead(error.status, {
    ...cors,
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The headers s3rver adds to an actual (not preflight) cross-origin request its CORS rules allow. */
async function corsHeaders(store: FilesystemStore, req: http.IncomingMessage): Promise<Record<string, string>> {
  const origin = req.headers.origin;
  const bucket = decodeURIComponent((req.url ?? '/').split(/[/?]/)[1] ?? '');
  if (!origin || !bucket) return {};
  const rule = (await store.getSubresource(bucket, undefined, 'cors'))?.matchRule(origin, req.method ?? 'GET');
  if (!rule) return {};
  return {
    'Access-Control-Allow-Origin': rule.hasWildcardOrigin ? '*' : origin,
    ...(rule.exposeHeaders.length ? { 'Access-Control-Expose-Headers': rule.exposeHeaders.join(', ') } : {}),
    ...(rule.maxAgeSeconds !== undefined ? { 'Access-Control-Max-Age': String(rule.maxAgeSeconds) } : {}),
    // Credentials may not go with `*` (browsers refuse it); s3rver says so anyway.
    ...(rule.hasWildcardOrigin ? {} : { 'Access-Control-Allow-Credentials': 'true' }),
    Vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
  };
}

/**
 * Objects and parts land in a temporary file next to their place and are renamed into it once
 * complete (S3 never shows a partial object). s3rver wrote them in place, so a PUT racing a
 * read of the same key could serve a torn object, and its `pipe` chain hung on a failing body.
 */
function writeAtomically(store: FilesystemStore): void {
  store.putObject = async (object) => {
    const written = await writeFile(store.getResourcePath(object.bucket, object.key, 'object'), object.content);
    await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    return written;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const number = String(partNumber);
    if (!validPartNumber(number)) throw new S3Error('InvalidArgument', PART_NUMBER_MESSAGE, { ArgumentName: 'partNumber', ArgumentValue: number });
    const file = path.join(await existingUpload(store, bucket, uploadId), number);
    const written = await writeFile(file, content);
    await fs.promises.writeFile(`${file}.md5`, written.md5);
    return written;
  };
}

async function writeFile(target: string, content: Buffer | Readable): Promise<{ size: number; md5: string }> {
  // Callers build `target` only through the confined store paths (see confineToBuckets).
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  // Not ending in s3rver's "._S3rver_object" suffix, so listings never show it; short, so a
  // key segment as long as s3rver can store still leaves room for it in a file name.
  const temporary = path.join(path.dirname(target), `.${randomBytes(8).toString('hex')}.partial`);
  const md5 = createHash('md5');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, measure, fs.createWriteStream(temporary));
    await fs.promises.rename(temporary, target);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  return { size, md5: md5.digest('hex') };
}

function guardMultipartCompletion(store: FilesystemStore): void {
  const complete = store.putObjectMultipart.bind(store);
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const directory = await existingUpload(store, bucket, uploadId);
    for (const part of parts) {
      if (!validPartNumber(String(part.number))) throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found or its ETag does not match.');
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
  // SPEC "Web client": PUT (uploads and parts), GET and HEAD. Nothing the API signs is a POST.
  const methods = ['GET', 'HEAD', 'PUT'].map((method) => `<AllowedMethod>${method}</AllowedMethod>`).join('');
  return `<CORSConfiguration><CORSRule>${allowed}${methods}<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;
}
