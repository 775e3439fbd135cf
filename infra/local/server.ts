import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { routes as defaultRoutes, type Route } from '../../functions/routes';
import { LAMBDA_MAX_PAYLOAD_BYTES } from '../../lib/config';
import { lambdaContext, requestUrl, serializedEventBytes, toApiGatewayEvent } from './event';
import { Router } from './routing';

/** API Gateway HTTP API's request payload limit. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

type LambdaHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly corsOrigins: readonly string[];
  readonly routes?: readonly Route[];
  /** One line per request; silent when absent. */
  readonly log?: (line: string) => void;
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves the real handlers over HTTP as API Gateway would: each request becomes a payload 2.0
 * event for the function the route table names, and each result becomes the HTTP answer.
 * Handlers are loaded once and stay warm, like a Lambda container.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const routeList = options.routes ?? defaultRoutes;
  const router = new Router(routeList);
  const handlers = new Map<string, Promise<LambdaHandler>>();
  const loadHandler = (name: string) => {
    let loaded = handlers.get(name);
    if (!loaded) {
      loaded = import(`../../functions/${name}`).then((module: { handler: LambdaHandler }) => module.handler);
      handlers.set(name, loaded);
    }
    return loaded;
  };

  const receiveBuffers = new ReceiveBuffers();
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const seen: AccessLogFields = {};
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The route key, never the raw path (share tokens and ids stay out of logs), and the
      // request id clients see as the problem `instance`.
      options.log?.(`${seen.routeKey ?? `${req.method} (no route)`} ${res.statusCode} ${ms.toFixed(1)}ms ${seen.requestId ?? '-'}`);
    });
    handle(req, res, seen).catch((error: unknown) => {
      options.log?.(`local runtime error: ${error instanceof Error ? error.stack : String(error)}`);
      if (!res.headersSent) sendGatewayMessage(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, seen: AccessLogFields): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('apigw-requestid', requestId);
    let path: string;
    try {
      path = requestUrl(req.url).pathname;
    } catch {
      return drainThen(req, () => sendGatewayMessage(res, 400, 'Bad Request')); // not a path nor a URL
    }
    const method = req.method ?? 'GET';
    const cors = corsHeaders(options.corsOrigins, req.headers.origin);

    if (method === 'OPTIONS' && req.headers['access-control-request-method'] && cors) {
      const methods = router.methodsFor(path);
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': methods.length ? methods.join(',') : 'GET,POST,PUT,DELETE',
        'Access-Control-Allow-Headers': 'authorization,content-type',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }

    let match;
    try {
      match = router.match(method, path);
    } catch {
      return drainThen(req, () => sendGatewayMessage(res, 400, 'Bad Request', cors)); // malformed %-encoding
    }
    if (!match) return drainThen(req, () => sendGatewayMessage(res, 404, 'Not Found', cors));
    seen.routeKey = match.routeKey;

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > API_GATEWAY_MAX_BODY_BYTES) return drainThen(req, () => sendGatewayMessage(res, 413, 'Request Entity Too Large', cors));
    const received = await readBody(req, API_GATEWAY_MAX_BODY_BYTES, receiveBuffers);
    if (!received) return sendGatewayMessage(res, 413, 'Request Entity Too Large', cors);

    let event: APIGatewayProxyEventV2;
    try {
      event = toApiGatewayEvent(req, received.body, match, requestId); // copies the body into the event's string
    } finally {
      received.release();
    }
    const context = lambdaContext(match.route.handler);
    seen.requestId = context.awsRequestId;
    if (serializedEventBytes(event) > LAMBDA_MAX_PAYLOAD_BYTES) {
      return sendProblem(res, 413, context.awsRequestId, cors);
    }

    const result = await (await loadHandler(match.route.handler))(event, context);
    writeResult(res, result, cors);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What the access log line names, filled in as the request is routed. */
interface AccessLogFields {
  routeKey?: string;
  requestId?: string;
}

/** Bodies from this size on are read into a reused buffer rather than a fresh one. */
const POOLED_BODY_BYTES = 1024 * 1024;

/**
 * Buffers that large request bodies are read into, reused from one request to the next. A
 * body buffer lives only until the body is encoded into the event's string, and a fresh
 * multi-megabyte buffer per request costs far more than the copy into it (new memory is
 * slow to touch in a VM, and garbage collection runs sooner the more of it is allocated).
 * Keeps the two largest buffers given back.
 */
class ReceiveBuffers {
  readonly #free: Buffer[] = [];

  take(size: number): Buffer {
    const index = this.#free.findIndex((buffer) => buffer.length >= size);
    return index >= 0 ? (this.#free.splice(index, 1)[0] as Buffer) : Buffer.allocUnsafeSlow(size);
  }

  give(buffer: Buffer): void {
    this.#free.push(buffer);
    this.#free.sort((a, b) => b.length - a.length).splice(2);
  }
}

interface ReceivedBody {
  readonly body: Buffer;
  /** The body's memory may be reused from now on. */
  release(): void;
}

/**
 * Reads the whole body, or returns undefined (and discards the rest) past `limit` bytes. A
 * body whose Content-Length announces at least {@link POOLED_BODY_BYTES} is read into one of
 * `buffers`; others, and bodies without a length (chunked), are collected and joined.
 */
function readBody(req: IncomingMessage, limit: number, buffers: ReceiveBuffers): Promise<ReceivedBody | undefined> {
  const declared = Number(req.headers['content-length']);
  let pooled = Number.isSafeInteger(declared) && declared >= POOLED_BODY_BYTES && declared <= limit ? buffers.take(declared) : undefined;
  const giveBack = () => {
    if (pooled) buffers.give(pooled);
    pooled = undefined;
  };
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      if (size + chunk.length > limit) {
        over = true;
        giveBack();
        return;
      }
      if (pooled && size + chunk.length > pooled.length) {
        // More than announced (HTTP's framing should rule this out): collect from here on.
        chunks.push(Buffer.from(pooled.subarray(0, size)));
        giveBack();
      }
      if (pooled) chunk.copy(pooled, size);
      else chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      if (over) return resolve(undefined);
      if (!pooled) return resolve({ body: Buffer.concat(chunks), release: () => undefined });
      const body = pooled.subarray(0, size);
      resolve({ body, release: giveBack });
    });
    req.on('error', (error) => {
      giveBack();
      reject(error);
    });
  });
}

/** Answers only after the client has finished sending, so it reliably sees the answer. */
function drainThen(req: IncomingMessage, respond: () => void): void {
  if (req.readableEnded) return respond();
  req.on('end', respond);
  req.resume();
}

function corsHeaders(allowed: readonly string[], origin: string | undefined): Record<string, string> | undefined {
  if (!origin || allowed.length === 0) return undefined;
  if (allowed.includes('*')) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'www-authenticate,retry-after' };
  if (!allowed.includes(origin)) return undefined;
  return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin', 'Access-Control-Expose-Headers': 'www-authenticate,retry-after' };
}

/** The `{"message": ...}` answers API Gateway itself gives (no route, too large, failures). */
function sendGatewayMessage(res: ServerResponse, status: number, message: string, cors?: Record<string, string>): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...cors });
  res.end(JSON.stringify({ message }));
}

function sendProblem(res: ServerResponse, status: 413, instance: string, cors?: Record<string, string>): void {
  res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store', ...cors });
  res.end(
    JSON.stringify({
      type: 'about:blank',
      title: 'Content Too Large',
      status,
      detail: `The request exceeds Lambda's ${LAMBDA_MAX_PAYLOAD_BYTES}-byte payload limit (about 4.7 MB of file after base64); upload larger files directly to storage`,
      instance,
    }),
  );
}

/** Payload 2.0 results: a structured `{statusCode, headers, body, ...}` or any JSON value (200). */
function writeResult(res: ServerResponse, result: APIGatewayProxyResultV2, cors: Record<string, string> | undefined): void {
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    res.writeHead(200, { 'Content-Type': 'application/json', ...cors });
    res.end(typeof result === 'string' ? result : JSON.stringify(result));
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (value !== undefined && value !== null) headers[name] = String(value);
  }
  if (result.cookies?.length) headers['Set-Cookie'] = result.cookies;
  const body = result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  if (body && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  res.writeHead(result.statusCode ?? 200, { ...headers, ...cors });
  res.end(body);
}
