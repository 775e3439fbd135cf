/**
 * Optional X-Ray tracing through Powertools Tracer. Only ever loaded behind the build-time
 * constant `process.env.TRACING_ENABLED === 'true'` (esbuild `define` in infra, from
 * `-c tracing=true`), with a `require` inside that branch: when tracing is off the bundler
 * removes the branch and this module with it.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';

let tracer: Tracer | undefined;

/** The container's one tracer (service name from `POWERTOOLS_SERVICE_NAME`). */
export function getTracer(): Tracer {
  tracer ??= new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'secure-upload-api' });
  return tracer;
}

/** Middy middleware: one subsegment per invocation, cold start and errors annotated. */
export function tracingMiddleware(): MiddlewareObj {
  // Responses can carry tokens or presigned URLs: never record them as trace metadata.
  return captureLambdaHandler(getTracer(), { captureResponse: false });
}

/** Wraps an AWS SDK v3 client so each call becomes a subsegment. */
export function captureClient<T>(client: T): T {
  return getTracer().captureAWSv3Client(client);
}
