import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { logger } from '../logger';
import { HttpError, titleFor } from './errors';
import { API_DEFAULT_HEADERS } from './response';

/** Middy's own errors (createError) carry these; only those below 500 are meant for clients. */
interface MiddyHttpError extends Error {
  statusCode: number;
  expose?: boolean;
  cause?: { package?: string };
}

const isMiddyError = (error: unknown): error is MiddyHttpError =>
  error instanceof Error && typeof (error as Partial<MiddyHttpError>).statusCode === 'number';

/**
 * Maps Middy's own errors onto the contract. Its JSON parser says 415 for a malformed body
 * too; the contract says 400 there and keeps 415 for a wrong Content-Type.
 */
function fromMiddy(error: MiddyHttpError): HttpError | undefined {
  if (error.statusCode >= 500) return undefined;
  const fromJsonParser = error.cause?.package === '@middy/http-json-body-parser';
  if (fromJsonParser && error.statusCode === 415 && error.message.startsWith('Invalid or malformed')) {
    return new HttpError(400, 'The request body is not valid JSON', { cause: error });
  }
  if (fromJsonParser && error.statusCode === 415) {
    return new HttpError(415, 'Content-Type must be application/json', { cause: error });
  }
  return new HttpError(error.statusCode, error.expose === false ? titleFor(error.statusCode) : error.message, {
    cause: error,
  });
}

/**
 * The one error boundary: every thrown error leaves as RFC 9457 `application/problem+json`.
 * Client errors say what was wrong; anything else is a 500 whose body says nothing internal
 * and whose log line (with the request id) says everything.
 */
export function problemDetails(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context> {
  return {
    onError: async (request) => {
      const { error } = request;
      const known = error instanceof HttpError ? error : isMiddyError(error) ? fromMiddy(error) : undefined;
      const problem = known ?? new HttpError(500, 'An unexpected error occurred. Quote the instance id when reporting it.');
      if (!known) logger.error('Unhandled error', { error: error ?? undefined, route: request.event.routeKey });
      else if (problem.status >= 500) logger.error('Server error', { error: problem });

      const body = {
        type: problem.type,
        title: problem.title,
        status: problem.status,
        detail: problem.detail,
        instance: request.context.awsRequestId,
        ...(problem.errors ? { errors: problem.errors } : {}),
        ...problem.extensions,
      };
      request.response = {
        statusCode: problem.status,
        headers: { ...API_DEFAULT_HEADERS, ...problem.headers, 'Content-Type': 'application/problem+json' },
        body: JSON.stringify(body),
      };
    },
  };
}
