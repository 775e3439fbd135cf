import { randomUUID } from 'node:crypto';
import { lambdaContext as localLambdaContext } from '../../infra/local/event';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

export interface EventOptions {
  readonly method?: string;
  readonly path?: string;
  /** Route key as in the route table, e.g. `POST /upload`; defaults to `<method> <path>`. */
  readonly routeKey?: string;
  readonly headers?: Record<string, string>;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  /** A JSON body (sent as application/json text, as API Gateway does). */
  readonly json?: unknown;
  /** A raw text body with whatever content-type `headers` give. */
  readonly text?: string;
  /** A binary body: base64-encoded with isBase64Encoded, as API Gateway does for non-text types. */
  readonly binary?: Buffer;
  readonly token?: string;
  /**
   * `requestContext.http.sourceIp`. Unset, each event gets its own address (2001:db8::/32,
   * documentation range), so per-address limits only meet tests that name an address.
   */
  readonly sourceIp?: string;
}

/**
 * A payload format 2.0 event as API Gateway HTTP APIs send it (lower-case headers, request
 * context, base64 bodies for non-text types), in the spirit of Powertools' createTestEventV2.
 */
export function createTestEventV2(options: EventOptions = {}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/';
  const routeKey = options.routeKey ?? `${method} ${path}`;
  const headers: Record<string, string> = {
    host: 'abc123.execute-api.us-east-1.amazonaws.com',
    'user-agent': 'jest',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-proto': 'https',
    'x-forwarded-port': '443',
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (options.token) headers.authorization = `Bearer ${options.token}`;

  let body: string | undefined;
  let isBase64Encoded = false;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.text !== undefined) {
    body = options.text;
  } else if (options.binary !== undefined) {
    body = options.binary.toString('base64');
    isBase64Encoded = true;
  }
  const now = new Date();
  const query = options.query;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: query ? new URLSearchParams(query).toString() : '',
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: headers.host ?? '',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: options.sourceIp ?? randomDocumentationAddress(), userAgent: headers['user-agent'] ?? 'jest' },
      requestId: `req-${randomUUID()}`,
      routeKey,
      stage: '$default',
      time: '25/Nov/2026:10:00:00 +0000',
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded,
  };
}

/** A random IPv6 address in its own /64 of the documentation range. */
function randomDocumentationAddress(): string {
  const hex = randomUUID().replace(/-/g, '');
  return `2001:db8:${hex.slice(0, 4)}:${hex.slice(4, 8)}::${hex.slice(8, 12)}`;
}

/** A multipart/form-data body as curl `-F` sends it, and its content-type header. */
export function multipartBody(
  parts: ReadonlyArray<{ name: string; filename?: string; contentType?: string; content: Buffer | string }>,
  boundary = `------------------------${randomUUID().replace(/-/g, '')}`,
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    const type = part.filename !== undefined ? `\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** The Lambda context the local runtime gives each invocation. */
export const lambdaContext = (functionName = 'test-function'): Context => localLambdaContext(functionName);

export interface InvokeResult {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Record<string, string>;
  /** Parsed JSON for JSON and problem+json answers, else the raw text. */
  readonly body: any;
  readonly raw: APIGatewayProxyStructuredResultV2;
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Calls an exported handler the way Lambda does and decodes the answer. */
export async function invoke(handler: Handler, event: APIGatewayProxyEventV2): Promise<InvokeResult> {
  const raw = await handler(event, lambdaContext());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = String(value);
  }
  const text = raw.body === undefined ? '' : raw.isBase64Encoded ? Buffer.from(raw.body, 'base64').toString('utf8') : raw.body;
  const isJson = /json/.test(headers['content-type'] ?? '');
  return { status: raw.statusCode ?? 200, headers, body: isJson && text ? JSON.parse(text) : text, raw };
}
