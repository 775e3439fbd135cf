import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler, type Request } from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { logger } from '../logger';
import { problemDetails } from './problem';
import { toApiGatewayResult, type HttpResponse } from './response';
import { optionalTracing } from '../tracing-switch';
import { requestOrigin, type RequestOrigin } from '../request-origin';

export type ApiRequest = Request<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>;

/**
 * One step of the chain that proves something about the request (a user, a valid body) and
 * hands it to the handler. Steps are plain objects the handler file imports itself, so a
 * function's bundle holds exactly the steps its route uses.
 */
export interface InputStep<T> {
  readonly read: (request: ApiRequest) => Promise<T> | T;
}

/** What a route's chain establishes, by the name the handler reads it under. */
export interface HandlerOptions {
  /** Authentication (`bearerAuth`): the handler gets `user`. */
  readonly auth?: InputStep<unknown>;
  /** Query string validation (`validQuery(schema)`): the handler gets the typed `query`. */
  readonly query?: InputStep<unknown>;
  /** Body parsing and validation (`jsonBody(schema)`): the handler gets the typed `body`. */
  readonly body?: InputStep<unknown>;
  /** multipart/form-data (`multipartForm`): the handler gets `form`. */
  readonly form?: InputStep<unknown>;
}

type StepValue<S> = S extends InputStep<infer T> ? T : never;

/** What a handler receives, typed by its options: only what its chain has proven. */
export type HandlerInput<O extends HandlerOptions> = {
  readonly event: APIGatewayProxyEventV2;
  readonly requestId: string;
  /** Client address, user agent and request id, as audit events and abuse counters take them. */
  readonly origin: RequestOrigin;
} & { readonly [K in keyof O as K extends 'auth' ? 'user' : K]: StepValue<O[K]> };

export type ApiHandler = MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>;

/**
 * Middy's helmet-style defaults, less: its HTML CSP (which would break Swagger UI; every
 * response gets a CSP from API_DEFAULT_HEADERS or the docs page's own), its empty
 * reporting headers (no report endpoint exists), and its Permissions-Policy (see below).
 */
const SECURITY_HEADERS = { poweredBy: false, contentSecurityPolicy: false, reportingEndpoints: false, reportTo: false, permissionsPolicy: false };

/**
 * The Permissions-Policy of HTML pages, unless the handler sets its own (the web client allows
 * itself the clipboard). Middy's list names a dozen features browsers no longer know, each of
 * which Chromium reports as a console error on every page, and it cannot be shortened (options
 * merge into it), so this middleware sets the header instead.
 */
export const HTML_PERMISSIONS_POLICY = [
  'accelerometer', 'autoplay', 'camera', 'clipboard-read', 'clipboard-write', 'display-capture', 'encrypted-media', 'fullscreen',
  'gamepad', 'geolocation', 'gyroscope', 'hid', 'idle-detection', 'magnetometer', 'microphone', 'midi', 'payment', 'picture-in-picture',
  'publickey-credentials-get', 'screen-wake-lock', 'serial', 'sync-xhr', 'usb', 'xr-spatial-tracking',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

function htmlPermissionsPolicy(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context> {
  const apply = (request: ApiRequest) => {
    const headers = request.response?.headers;
    if (!headers) return;
    const type = headers['Content-Type'] ?? headers['content-type'];
    if (typeof type === 'string' && type.includes('text/html') && headers['Permissions-Policy'] === undefined) {
      headers['Permissions-Policy'] = HTML_PERMISSIONS_POLICY;
    }
  };
  return { after: apply, onError: apply };
}

/** Authentication before parsing, so anonymous callers never make us parse a body. */
const STEP_ORDER = ['auth', 'query', 'body', 'form'] as const;

/** Values the steps proved, per invocation (events are never reused across invocations). */
const proven = new WeakMap<object, Record<string, unknown>>();

/**
 * The one Middy chain every endpoint shares. Order matters:
 * (tracing) -> logger context -> security headers (after/onError) -> problem+json (onError,
 * so it sees every failure below it) -> the route's steps in {@link STEP_ORDER} -> the handler.
 */
export function httpHandler<const O extends HandlerOptions>(
  options: O,
  fn: (input: HandlerInput<O>) => Promise<HttpResponse> | HttpResponse,
): ApiHandler {
  const chain = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>();
  const tracing = optionalTracing();
  if (tracing) chain.use(tracing.tracingMiddleware());
  // logEvent pinned off: an env switch must never put passwords or tokens into the logs.
  chain
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(accessLog())
    // Registered before the security headers, so its `after` runs after theirs.
    .use(htmlPermissionsPolicy())
    .use(httpSecurityHeaders(SECURITY_HEADERS))
    .use(problemDetails());
  for (const name of STEP_ORDER) {
    const step = options[name];
    if (step) chain.use(storeStep(name === 'auth' ? 'user' : name, step));
  }

  return chain.handler(async (event, context) => {
    const requestId = context.awsRequestId;
    const input = { ...proven.get(event), event, requestId, origin: requestOrigin(event, requestId) } as HandlerInput<O>;
    return toApiGatewayResult(await fn(input));
  });
}

/**
 * One line per request at info: the route key (never the raw path, which can carry ids and,
 * later, share tokens), the status, the time, the request id (the problem `instance`), and for
 * a 4xx the problem's `detail`, which names what was wrong without echoing any of the request.
 * Registered before the problem+json middleware, so its onError runs after the problem is built.
 */
function accessLog(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context> {
  const started = new WeakMap<object, number>();
  const log = (request: ApiRequest) => {
    const status = request.response?.statusCode ?? 500;
    let reason: string | undefined;
    if (status >= 400 && status < 500 && typeof request.response?.body === 'string') {
      try {
        reason = (JSON.parse(request.response.body) as { detail?: string }).detail;
      } catch {
        reason = undefined;
      }
    }
    const began = started.get(request.event);
    logger.info('Request', {
      route: request.event.routeKey,
      status,
      request_id: request.context.awsRequestId,
      ...(began === undefined ? {} : { duration_ms: Math.round((performance.now() - began) * 10) / 10 }),
      ...(reason === undefined ? {} : { reason }),
    });
  };
  return {
    before: (request) => {
      started.set(request.event, performance.now());
    },
    after: log,
    onError: log,
  };
}

function storeStep(name: string, step: InputStep<unknown>): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context> {
  return {
    before: async (request) => {
      const value = await step.read(request);
      const values = proven.get(request.event) ?? {};
      values[name] = value;
      proven.set(request.event, values);
    },
  };
}
