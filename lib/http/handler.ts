import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import { getConfig } from '../config';
import { logger } from '../logger';
import type { User } from '../users';
import { bearerAuth, type AuthContext } from './auth';
import { jsonBody, multipartBody, validQuery } from './body';
import type { MultipartForm } from './multipart';
import { problemDetails } from './problem';
import { toApiGatewayResult, type HttpResponse } from './response';

export interface HandlerOptions {
  /** Require a valid access token; the handler gets `user`. */
  readonly auth?: boolean;
  /** Parse a JSON body and validate it; the handler gets the typed `body`. */
  readonly body?: z.ZodType;
  /** With `body`: a request without a body counts as `{}` (for bodies whose fields are all optional). */
  readonly bodyOptional?: boolean;
  /** Validate the query string; the handler gets the typed `query`. */
  readonly query?: z.ZodType;
  /** Parse a multipart/form-data body; the handler gets `form`. */
  readonly multipart?: boolean;
}

/** What a handler receives, typed by its options: only what its chain has proven. */
export type HandlerInput<O extends HandlerOptions> = {
  readonly event: APIGatewayProxyEventV2;
  readonly requestId: string;
} & (O extends { auth: true } ? { readonly user: User } : unknown) &
  (O extends { body: infer S extends z.ZodType } ? { readonly body: z.output<S> } : unknown) &
  (O extends { query: infer Q extends z.ZodType } ? { readonly query: z.output<Q> } : unknown) &
  (O extends { multipart: true } ? { readonly form: MultipartForm } : unknown);

export type ApiHandler = MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, AuthContext>;

/**
 * Middy's helmet-style defaults, less: its HTML CSP (which would break Swagger UI; every
 * response gets a CSP from API_DEFAULT_HEADERS or the docs page's own), and its empty
 * reporting headers (no report endpoint exists).
 */
const SECURITY_HEADERS = { poweredBy: false, contentSecurityPolicy: false, reportingEndpoints: false, reportTo: false };

/**
 * The one Middy chain every endpoint shares. Order matters:
 * logger context -> security headers (after/onError) -> problem+json (onError, so it sees
 * every failure below it) -> authentication (before parsing, so anonymous callers never make
 * us parse a body) -> body parsing and validation -> the handler.
 */
export function httpHandler<const O extends HandlerOptions>(
  options: O,
  fn: (input: HandlerInput<O>) => Promise<HttpResponse> | HttpResponse,
): ApiHandler {
  // In Lambda, validate the configuration during the cold start: a bad variable fails the
  // init with one line naming it, instead of surfacing as a 500 on the first request.
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) getConfig();
  const chain = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, AuthContext>()
    // logEvent pinned off: an env switch must never put passwords or tokens into the logs.
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(httpSecurityHeaders(SECURITY_HEADERS))
    .use(problemDetails());
  if (options.auth) chain.use(bearerAuth());
  if (options.query) chain.use(validQuery(options.query));
  if (options.body) chain.use(jsonBody(options.body, options.bodyOptional));
  if (options.multipart) chain.use(multipartBody());

  return chain.handler(async (event, context) => {
    const input = {
      event,
      requestId: context.awsRequestId,
      user: context.user,
      body: event.body,
      form: event.body,
      query: (event as { validQuery?: unknown }).validQuery,
    } as unknown as HandlerInput<O>;
    return toApiGatewayResult(await fn(input));
  });
}
