import { createHash, createHmac, timingSafeEqual, type BinaryLike } from 'node:crypto';
import querystring from 'node:querystring';
import {
  ALGORITHM_IDENTIFIER,
  MAX_PRESIGNED_TTL,
  SignatureV4Base,
  createScope,
  getCanonicalHeaders,
  getSigningKey,
} from '@smithy/signature-v4';

/** The request shape of the SigV4 library (its `@smithy/types` HttpRequest). */
type HttpRequest = Parameters<typeof getCanonicalHeaders>[0];
type HeaderBag = HttpRequest['headers'];
type QueryParameterBag = NonNullable<HttpRequest['query']>;
type SourceData = string | ArrayBuffer | ArrayBufferView;

/** An S3 error answer: the code, message and extra elements of S3's `<Error>` document. */
export interface S3ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly detail?: Readonly<Record<string, string>>;
}

/** What the signature says about the body, to check while it streams. */
export type PayloadClaim =
  | { readonly kind: 'unsigned' }
  /** Lower-case hex SHA-256 the body must hash to (S3: XAmzContentSHA256Mismatch otherwise). */
  | { readonly kind: 'sha256'; readonly sha256: string };

export type Verdict = { readonly ok: true; readonly accessKeyId: string; readonly payload: PayloadClaim } | { readonly ok: false; readonly error: S3ErrorAnswer };

/** The parts of an incoming HTTP request a SigV4 signature covers, as received on the wire. */
export interface IncomingSignedRequest {
  readonly method: string;
  /** The raw request target: path and query exactly as sent (`req.url`). */
  readonly url: string;
  /** Header values by lower-case name, repeated headers kept apart (`req.headersDistinct`). */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
}

export interface VerifierOptions {
  /** Secret access key of an access key id; undefined for keys that do not exist. */
  readonly secretFor: (accessKeyId: string) => string | undefined;
  readonly region: string;
  readonly now?: () => Date;
}

/** S3 tolerates this much difference between its clock and a header-signed request's. */
const MAX_SKEW_MS = 15 * 60_000;
const LONG_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

const fail = (status: number, code: string, message: string, detail?: Record<string, string>): Verdict => ({
  ok: false,
  error: { status, code, message, ...(detail ? { detail } : {}) },
});
const accessDenied = (message: string, detail?: Record<string, string>) => fail(403, 'AccessDenied', message, detail);

/** node:crypto behind the hash interface the SigV4 library computes with. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBinary(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBinary(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    throw new Error('not resettable');
  }
}

function toBinary(data: SourceData): BinaryLike {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * The SigV4 library's own canonical-request and string-to-sign code, fed with the request as
 * received instead of one it builds for sending: S3 signs the path as given (no second
 * encoding, no dot-segment normalization), so `uriEscapePath` is off and the verifier supplies
 * the canonical path and only the signed headers itself.
 */
class S3SignatureCalculator extends SignatureV4Base {
  constructor(region: string) {
    super({ service: 's3', region, credentials: { accessKeyId: '', secretAccessKey: '' }, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  }

  async signature(input: {
    request: HttpRequest;
    canonicalHeaders: HeaderBag;
    payloadHash: string;
    longDate: string;
    scope: string;
    signingKey: Uint8Array;
  }): Promise<{ signature: string; canonicalRequest: string; stringToSign: string }> {
    const canonicalRequest = this.createCanonicalRequest(input.request, input.canonicalHeaders, input.payloadHash);
    const stringToSign = await this.createStringToSign(input.longDate, input.scope, canonicalRequest, ALGORITHM_IDENTIFIER);
    const signature = createHmac('sha256', input.signingKey).update(stringToSign).digest('hex');
    return { signature, canonicalRequest, stringToSign };
  }
}

/** RFC 3986 unreserved characters stay, everything else is %XX (upper case): SigV4's UriEncode. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI: each path segment decoded once and encoded once, the way S3 reads the
 * key, so `/a%20b` and a client's `/a b` both verify as `/a%20b` but nothing is encoded twice.
 */
function canonicalPath(rawPath: string): string | undefined {
  try {
    return rawPath.split('/').map((segment) => uriEncode(decodeURIComponent(segment))).join('/');
  } catch {
    return undefined; // malformed %-escape
  }
}

/** Koa, and so s3rver, reads at most this many query parameters (node:querystring's default). */
const MAX_QUERY_PARAMETERS = 1000;

/**
 * The query as decoded name/value pairs, repeated names kept (the library sorts and encodes
 * them), decoded exactly as s3rver will read it: Koa builds `ctx.query` with node:querystring,
 * which reads `+` as a space (as AWS does). Decoding it any other way would let a signed `%2B`
 * sent as `+` verify while s3rver serves another value than the signed one.
 */
function parseQuery(rawQuery: string): QueryParameterBag | undefined {
  const pairs = rawQuery.split('&');
  // Beyond the limit Koa drops parameters the signature would still cover.
  if (pairs.length > MAX_QUERY_PARAMETERS) return undefined;
  // node:querystring keeps a malformed %-escape as it is; S3 refuses the URI, and so does this.
  for (const pair of pairs) {
    for (const part of pair.split('=')) {
      try {
        decodeURIComponent(part.replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(querystring.parse(rawQuery))) if (value !== undefined) query[name] = value;
  return query;
}

const single = (query: QueryParameterBag, name: string): string | undefined => {
  const value = query[name];
  return Array.isArray(value) ? undefined : (value ?? undefined);
};

function parseLongDate(value: string | undefined): Date | undefined {
  const match = value ? LONG_DATE.exec(value) : null;
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Credential {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
}

function parseCredential(value: string): Credential | undefined {
  const parts = value.split('/');
  if (parts.length !== 5 || parts.some((part) => !part)) return undefined;
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  return { accessKeyId, date, region, service, terminator };
}

/**
 * Verifies an S3 request signed with AWS Signature Version 4, in the Authorization header or
 * in the query string (a presigned URL), the way S3 does: the same canonical request from what
 * was received (path, every query parameter but the signature, each signed header's received
 * value), the credential scope, the clock (15 minutes of skew for headers, `X-Amz-Expires` up
 * to 7 days for URLs), and S3's error codes. Requests with no signature at all are refused:
 * the embedded bucket is private, as buckets in this product are in AWS.
 *
 * The body itself is checked by the caller while it streams, against the returned claim.
 */
export async function verifySigV4(request: IncomingSignedRequest, options: VerifierOptions): Promise<Verdict> {
  const now = options.now?.() ?? new Date();
  // Koa cuts a fragment off the URL it serves, the verifier would sign it as part of the query.
  if (request.url.includes('#')) return fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
  const at = request.url.indexOf('?');
  const rawPath = at === -1 ? request.url : request.url.slice(0, at);
  const query = parseQuery(at === -1 ? '' : request.url.slice(at + 1));
  const path = canonicalPath(rawPath);
  if (!query || !path) return fail(400, 'InvalidURI', "Couldn't parse the specified URI.");

  const header = (name: string) => request.headers[name]?.join(',');
  const authorization = header('authorization');
  const presigned = 'X-Amz-Algorithm' in query;
  if (authorization !== undefined && presigned) {
    return fail(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified', {
      ArgumentName: 'Authorization',
    });
  }
  if (authorization === undefined && !presigned) {
    if ('Signature' in query || 'AWSAccessKeyId' in query) return signatureV2();
    return accessDenied('Access Denied');
  }
  // The library leaves every case of X-Amz-Signature out of the canonical query, so a second
  // one (`&x-amz-signature=...`) would ride along unsigned; S3 takes one signature, in one place.
  const signatures =
    Object.entries(query)
      .filter(([name]) => name.toLowerCase() === 'x-amz-signature')
      .reduce((count, [, value]) => count + (Array.isArray(value) ? value.length : 1), 0) + (authorization === undefined ? 0 : 1);
  if (signatures > 1) {
    return fail(400, 'InvalidArgument', 'Only one signature is allowed: a single X-Amz-Signature query parameter or the Authorization header', {
      ArgumentName: 'X-Amz-Signature',
    });
  }

  let credential: Credential | undefined;
  let signedHeaderNames: string[];
  let signatureProvided: string;
  let longDate: string;
  let payloadHash: string;
  let payload: PayloadClaim;

  if (presigned) {
    const algorithm = single(query, 'X-Amz-Algorithm');
    if (algorithm !== ALGORITHM_IDENTIFIER) return queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    const [rawCredential, date, expires, signedHeaders, signature] = ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'].map((name) =>
      single(query, name),
    );
    if (!rawCredential || !date || !expires || !signedHeaders || !signature) {
      return queryError(
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    const signedAt = parseLongDate(date);
    if (!signedAt) return queryError('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
    if (!/^\d+$/.test(expires)) return queryError('X-Amz-Expires should be a number');
    const lifetime = Number(expires);
    if (lifetime > MAX_PRESIGNED_TTL) return queryError(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGNED_TTL}`);
    credential = parseCredential(rawCredential);
    if (!credential) return queryError(`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
    const scopeError = checkScope(credential, date, options.region, queryError);
    if (scopeError) return scopeError;
    if (now.getTime() > signedAt.getTime() + lifetime * 1000) {
      return accessDenied('Request has expired', {
        'X-Amz-Expires': expires,
        Expires: isoSeconds(new Date(signedAt.getTime() + lifetime * 1000)),
        ServerTime: isoSeconds(now),
      });
    }
    if (signedAt.getTime() - now.getTime() > MAX_SKEW_MS) return accessDenied('Request is not valid yet');
    signedHeaderNames = signedHeaders.split(';');
    signatureProvided = signature;
    longDate = date;
    // A presigned URL never covers the body, unless the signer put a hash in the URL itself.
    payloadHash = single(query, 'X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
  } else {
    const parsed = parseAuthorization(authorization ?? '');
    if ('ok' in parsed) return parsed;
    credential = parseCredential(parsed.credential);
    if (!credential) return headerMalformed('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
    const amzDate = header('x-amz-date');
    const plainDate = header('date');
    const signedAt = amzDate !== undefined ? parseLongDate(amzDate) : plainDate !== undefined ? new Date(plainDate) : undefined;
    if (!signedAt || Number.isNaN(signedAt.getTime())) return accessDenied('AWS authentication requires a valid Date or x-amz-date header');
    longDate = amzDate ?? isoSeconds(signedAt).replace(/[-:]/g, '');
    const scopeError = checkScope(credential, longDate, options.region, headerMalformed);
    if (scopeError) return scopeError;
    if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_SKEW_MS) {
      return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
        RequestTime: amzDate ?? plainDate ?? '',
        ServerTime: isoSeconds(now),
        MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
      });
    }
    signedHeaderNames = parsed.signedHeaders.split(';');
    signatureProvided = parsed.signature;
    const declared = header('x-amz-content-sha256');
    if (declared === undefined) return fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    payloadHash = declared;
  }

  if (payloadHash === 'UNSIGNED-PAYLOAD') payload = { kind: 'unsigned' };
  else if (SHA256_HEX.test(payloadHash)) payload = { kind: 'sha256', sha256: payloadHash };
  else if (payloadHash.startsWith('STREAMING-')) {
    // aws-chunked bodies: s3rver would store the chunk framing as the object's bytes.
    return fail(501, 'NotImplemented', `The embedded S3 server does not accept aws-chunked bodies (x-amz-content-sha256: ${payloadHash}); configure the client with requestChecksumCalculation: 'WHEN_REQUIRED'`);
  } else {
    return fail(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.', {
      ArgumentName: 'x-amz-content-sha256',
      ArgumentValue: payloadHash,
    });
  }

  const secret = options.secretFor(credential.accessKeyId);
  if (secret === undefined) {
    return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: credential.accessKeyId });
  }

  // The host must be signed, and so must every x-amz-* header sent (S3 refuses the rest).
  const signed = new Set(signedHeaderNames);
  const notSigned = [
    ...(signed.has('host') ? [] : ['host']),
    ...Object.keys(request.headers).filter((name) => name.startsWith('x-amz-') && !signed.has(name)),
  ];
  if (notSigned.length) return accessDenied('There were headers present in the request which were not signed', { HeadersNotSigned: notSigned.join(', ') });

  // Only the signed headers, with the values received; a signed header that did not arrive
  // is empty and cannot match what the client signed.
  const signedValues: HeaderBag = {};
  for (const name of signed) signedValues[name] = (request.headers[name] ?? []).map((value) => value.trim()).join(',');
  const signable: HttpRequest = { method: request.method, protocol: 'http:', hostname: '', path, query, headers: signedValues };
  const canonicalHeaders = getCanonicalHeaders(signable, undefined, signed);

  const calculator = new S3SignatureCalculator(options.region);
  const credentials = { accessKeyId: credential.accessKeyId, secretAccessKey: secret };
  const signingKey = await getSigningKey(NodeSha256, credentials, credential.date, credential.region, credential.service);
  const computed = await calculator.signature({
    request: signable,
    canonicalHeaders,
    payloadHash,
    longDate,
    scope: createScope(credential.date, credential.region, credential.service),
    signingKey,
  });
  if (!sameHex(computed.signature, signatureProvided)) {
    return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: credential.accessKeyId,
      StringToSign: computed.stringToSign,
      SignatureProvided: signatureProvided,
      CanonicalRequest: computed.canonicalRequest,
    });
  }
  return { ok: true, accessKeyId: credential.accessKeyId, payload };
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function queryError(message: string): Verdict {
  return fail(400, 'AuthorizationQueryParametersError', message);
}

function headerMalformed(message: string): Verdict {
  return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${message}`);
}

function signatureV2(): Verdict {
  return fail(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
}

/** The scope must name this date, this region, S3 and `aws4_request`, as S3 checks before the signature. */
function checkScope(credential: Credential, longDate: string, region: string, malformed: (message: string) => Verdict): Verdict | undefined {
  if (credential.date !== longDate.slice(0, 8)) return malformed(`Invalid credential date "${credential.date}". This date is not the same as X-Amz-Date: "${longDate.slice(0, 8)}".`);
  if (credential.region !== region) return malformed(`the region '${credential.region}' is wrong; expecting '${region}'`);
  if (credential.service !== 's3') return malformed(`incorrect service "${credential.service}". This endpoint belongs to "s3".`);
  if (credential.terminator !== 'aws4_request') return malformed(`incorrect terminal "${credential.terminator}". This endpoint uses "aws4_request".`);
  return undefined;
}

/** `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` (spaces after commas optional). */
function parseAuthorization(value: string): { credential: string; signedHeaders: string; signature: string } | Verdict {
  const space = value.indexOf(' ');
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme === 'AWS') return signatureV2();
  if (scheme !== ALGORITHM_IDENTIFIER) return fail(400, 'InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization', ArgumentValue: value });
  const fields = new Map<string, string>();
  for (const field of value.slice(space + 1).split(',')) {
    const at = field.indexOf('=');
    if (at === -1) return headerMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
    fields.set(field.slice(0, at).trim(), field.slice(at + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (fields.size !== 3 || !credential || !signedHeaders || !signature) {
    return headerMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  return { credential, signedHeaders, signature };
}
