/**
 * One SigV4-signed AWS JSON-protocol call (`X-Amz-Target`), nothing else: what the functions
 * need of Secrets Manager and SQS without their SDK clients.
 *
 * Why not the SDK clients: a function reads one secret once per container, or puts one message
 * on a queue, on the hottest cold-start path, and a full client brings its generic Smithy
 * runtime, nested STS/SSO clients, the whole credential chain and a user-agent parser with it
 * (~290 KB of minified JavaScript each). See lib/aws/secrets-manager.ts for the measurements.
 *
 * What it keeps from the SDK: the request signer (`@smithy/signature-v4`) and the SDK's own
 * Node SHA-256 (`Hash` from `@smithy/core/serde`). What it does itself, the way the SDK does it
 * for Lambda: credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
 * `AWS_SESSION_TOKEN` (what Lambda provides), the region from `AWS_REGION`, the endpoint from
 * the service's `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, else the regional
 * endpoint (in the VPC, an interface endpoint's private DNS answers for it), a per-attempt
 * timeout and a few retries with jittered backoff on throttling, 5xx and network errors.
 * Errors name the call and the failure (error code, HTTP status) but never carry the response
 * body or the credentials. Plain http only to loopback (tests and local stand-ins).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { optionalTracing } from '../tracing-switch';

/** A service spoken to over the AWS JSON protocol. */
export interface AwsJsonService {
  /** For messages: `Secrets Manager`. */
  readonly label: string;
  /** SigV4 signing name and regional host prefix: `secretsmanager`, `sqs`. */
  readonly signingName: string;
  /** The X-Ray subsegment's service name: `SecretsManager`, `SQS`. */
  readonly tracingName: string;
  /** `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_SQS`. */
  readonly endpointVariable: string;
  /** `X-Amz-Target` is `<targetPrefix>.<operation>`. */
  readonly targetPrefix: string;
  /** AWS JSON 1.0 or 1.1. */
  readonly jsonVersion: '1.0' | '1.1';
}

/** Options of one call; the defaults suit a Lambda cold start. */
export interface AwsCallOptions {
  /** Per attempt, in milliseconds. Default 2000: three attempts and their backoff end within ~6.3 s, inside the functions' 10 s timeout with room for a cold start. */
  readonly timeoutMs?: number;
  /** Attempts in all, the first included. Default 3 (the SDK's standard retry mode). */
  readonly maxAttempts?: number;
  /** Base of the exponential backoff between attempts, in milliseconds. Default 100. */
  readonly backoffBaseMs?: number;
  /** Environment to read region, endpoint and credentials from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A failed call: what went wrong, never the response body or the credentials. */
export class AwsCallError extends Error {
  override name = 'AwsCallError';

  constructor(
    message: string,
    /** The service's error code (e.g. `ResourceNotFoundException`), `TimeoutError`, `NetworkError` or `ConfigError`. */
    readonly code: string,
    /** The HTTP status, when there was a response. */
    readonly status: number | undefined,
    /** Whether another attempt could succeed. */
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** An answer is a few KB at most (a secret holds at most 64 KB); anything far beyond is not one. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const MAX_BACKOFF_MS = 2000;
/** Error codes the SDK's standard retry strategy treats as throttling or transient. */
const RETRYABLE_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'LimitExceededException',
  'InternalFailure',
  'InternalServiceError',
  'InternalServiceErrorException',
  'ServiceUnavailable',
]);

interface Target {
  readonly url: URL;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * Calls `operation` with `input` and returns the parsed JSON answer of a 200.
 *
 * @param what names the call in errors: `Secrets Manager GetSecretValue for <arn>`.
 * @throws AwsCallError when the configuration is incomplete, when the service refuses, or when
 *   every attempt timed out, was throttled or failed.
 */
export async function callAwsJson(
  service: AwsJsonService,
  operation: string,
  input: Readonly<Record<string, unknown>>,
  what: string,
  options: AwsCallOptions = {},
): Promise<Record<string, unknown>> {
  const target = resolveTarget(service, options.env ?? process.env);
  const call = () => withRetries(service, operation, JSON.stringify(input), what, target, options);
  const tracing = optionalTracing();
  return tracing ? tracing.traceAwsCall(service.tracingName, operation, target.region, call) : call();
}

function resolveTarget(service: AwsJsonService, env: NodeJS.ProcessEnv): Target {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  const fail = (message: string, cause?: unknown) =>
    new AwsCallError(`${service.label}: ${message}`, 'ConfigError', undefined, false, cause === undefined ? undefined : { cause });
  if (!region) throw fail('AWS_REGION is not set');
  if (!accessKeyId || !secretAccessKey) throw fail('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set');
  const configured = env[service.endpointVariable] || env.AWS_ENDPOINT_URL;
  const endpoint = configured || `https://${service.signingName}.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw fail('the endpoint URL is not valid', error);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail('the endpoint URL must be http(s)');
  // The request carries the session token (and a secret's answer is a key): cleartext only to a
  // stand-in on this machine (tests, local tools), never across a network, whatever a stray
  // AWS_ENDPOINT_URL says.
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) throw fail('a plain-http endpoint is allowed only on loopback');
  const sessionToken = env.AWS_SESSION_TOKEN || undefined;
  return { url, region, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

async function withRetries(
  service: AwsJsonService,
  operation: string,
  body: string,
  what: string,
  target: Target,
  options: AwsCallOptions,
): Promise<Record<string, unknown>> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const base = options.backoffBaseMs ?? 100;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await attemptOnce(service, operation, body, what, target, options.timeoutMs ?? 2000);
    } catch (error) {
      const retryable = error instanceof AwsCallError && error.retryable;
      if (!retryable || attempt >= maxAttempts) {
        if (retryable && error instanceof AwsCallError) {
          throw new AwsCallError(`${error.message} (after ${attempt} attempts)`, error.code, error.status, true, { cause: error.cause });
        }
        throw error;
      }
      // "Full jitter": spreads the retries of many cold-starting containers over the window.
      await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, base * 2 ** (attempt - 1)));
    }
  }
}

async function attemptOnce(
  service: AwsJsonService,
  operation: string,
  body: string,
  what: string,
  target: Target,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const { url } = target;
  const signer = new SignatureV4({ service: service.signingName, region: target.region, credentials: target.credentials, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''), // node:http wants an IPv6 literal without its brackets
    ...(url.port ? { port: Number(url.port) } : {}),
    path: '/',
    query: {},
    headers: {
      host: url.host,
      'content-type': `application/x-amz-json-${service.jsonVersion}`,
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-target': `${service.targetPrefix}.${operation}`,
    },
    body,
  });

  let response: { status: number; headers: IncomingMessage['headers']; body: Buffer };
  try {
    response = await post(url, signed.headers, body, timeoutMs);
  } catch (error) {
    // Duck-typed: errors from node's own modules may come from another realm (e.g. under Jest).
    const { name, code: systemCode } = (error ?? {}) as { name?: unknown; code?: unknown };
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    const code = timedOut ? 'TimeoutError' : 'NetworkError';
    const detail = timedOut ? 'timed out' : `failed: ${typeof systemCode === 'string' ? systemCode : 'network error'}`;
    throw new AwsCallError(`${what} ${detail}`, code, undefined, true, { cause: error });
  }

  const parsed = parseJson(response.body);
  if (response.status === 200) return parsed ?? {};
  const code = errorCode(response.headers['x-amzn-errortype'], parsed?.__type) ?? `HTTP${response.status}`;
  const retryable = response.status === 429 || response.status >= 500 || RETRYABLE_CODES.has(code);
  throw new AwsCallError(`${what} failed: ${code} (HTTP ${response.status})`, code, response.status, retryable);
}

/** One request; resolves with the whole (bounded) response, rejects on network errors and the timeout. */
function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  const requestOptions: RequestOptions = {
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''), // node:http wants an IPv6 literal without its brackets
    ...(url.port ? { port: Number(url.port) } : {}),
    path: '/',
    headers,
    // One call per container: no socket worth keeping open (and none left behind in tests).
    agent: false,
    signal: AbortSignal.timeout(timeoutMs),
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(requestOptions, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(Object.assign(new Error('response too large'), { code: 'ERESPONSETOOLARGE' }));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The error code from `x-amzn-errortype` or the body's `__type`, without a namespace
 * (`com.amazonaws...#Code`) or suffix (`Code:http://...`), and only if it looks like a code: it
 * ends up in messages and logs, and must not carry arbitrary response text.
 */
function errorCode(...candidates: unknown[]): string | undefined {
  for (const candidate of candidates) {
    const raw = Array.isArray(candidate) ? candidate[0] : candidate;
    if (typeof raw !== 'string') continue;
    const code = raw.split(':')[0]?.split('#').pop()?.trim();
    if (code && /^[A-Za-z][A-Za-z0-9]{0,99}$/.test(code)) return code;
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
