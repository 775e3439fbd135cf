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

/**
 * Runs one AWS call made without an SDK client (e.g. `lib/aws/secrets-manager.ts`) inside a
 * subsegment shaped like the ones `captureClient` records (`aws` namespace, operation, region),
 * so the service map still shows it. Without an active segment it just runs the call.
 */
export async function traceAwsCall<T>(service: string, operation: string, region: string, call: () => Promise<T>): Promise<T> {
  const tracer = getTracer();
  const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!parent) return call();
  const subsegment = parent.addNewSubsegment(service);
  subsegment.namespace = 'aws';
  subsegment.addAttribute('aws', { operation, region });
  try {
    return await call();
  } catch (error) {
    subsegment.addError(error instanceof Error ? error : String(error), true);
    throw error;
  } finally {
    subsegment.close();
  }
}
