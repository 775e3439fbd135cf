import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { RouteMatch } from './routing';

/**
 * API Gateway HTTP APIs pass these bodies as text and base64-encode every other body
 * (multipart, images, octet-stream, a body without a content type).
 */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    /^application\/(.+\+)?json$/.test(type) ||
    /^[a-z]+\/(.+\+)?xml$/.test(type) ||
    type === 'application/javascript' ||
    type === 'application/ecmascript'
  );
}

/** `12/Mar/2020:19:03:58 +0000`, API Gateway's requestContext.time. */
function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(
    date.getUTCMinutes(),
  )}:${pad(date.getUTCSeconds())} +0000`;
}

/**
 * The request target as a URL. A target starting with `/` is a path, even `//x/y` (which
 * `new URL(target, base)` reads as host `x`, and `//` as an authority without a host, which
 * throws): API Gateway routes on the path, never on a host inside it.
 */
export function requestUrl(target: string | undefined): URL {
  const raw = target ?? '/';
  return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw, 'http://localhost');
}

/**
 * Builds the payload format 2.0 event API Gateway would send for this request: lower-cased
 * headers with repeats joined by commas, cookies moved to `cookies`, decoded query parameters
 * (repeats joined by commas), the raw path and query, and the request context.
 */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer, match: RouteMatch, requestId: string): APIGatewayProxyEventV2 {
  const url = requestUrl(req.url);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
  headers['x-forwarded-for'] = sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');

  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of url.searchParams) query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;

  const cookies = req.headers.cookie?.split(';').map((cookie) => cookie.trim()).filter(Boolean);
  const now = new Date();
  const text = isTextContentType(headers['content-type']);
  const rawQuery = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '';

  return {
    version: '2.0',
    routeKey: match.routeKey,
    rawPath: url.pathname,
    rawQueryString: rawQuery,
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(match.pathParameters ? { pathParameters: match.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] ?? 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: match.routeKey,
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

/** A Lambda context for one invocation of `functionName`. */
export function lambdaContext(functionName: string, timeoutMs = 29_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The length in bytes of `event` as JSON, which is what Lambda's payload limit is measured on:
 * equal to `Buffer.byteLength(JSON.stringify(event))`, without serializing a multi-megabyte
 * body a second time (that copy, and counting its bytes, took more than half of a 4 MiB
 * upload's time here). When `isBase64Encoded` is true the body is base64, as API Gateway and
 * {@link toApiGatewayEvent} make it: only `A-Z a-z 0-9 + / =`, characters JSON writes as
 * themselves, one byte each, between the same two quotes an empty string has. Other bodies
 * (text, which may need escaping) are serialized and counted.
 */
export function serializedEventBytes(event: APIGatewayProxyEventV2): number {
  const { body } = event;
  if (!event.isBase64Encoded || body === undefined) return Buffer.byteLength(JSON.stringify(event));
  return Buffer.byteLength(JSON.stringify({ ...event, body: '' })) + body.length;
}
