import httpJsonBodyParser from '@middy/http-json-body-parser';
import { validationFailed } from './errors';
import type { ApiRequest, InputStep } from './handler';
import * as z from '../zod';

/** Validates `value` against `schema`: 422 with a JSON pointer (under `prefix`) per problem. */
function validate<S extends z.ZodMiniType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const parsed = z.safeParse(schema, value);
  if (parsed.success) return parsed.data;
  throw validationFailed(
    parsed.error.issues.map((issue) => ({
      pointer: prefix + issue.path.map((part) => `/${String(part).replace(/~/g, '~0').replace(/\//g, '~1')}`).join(''),
      detail: issue.message,
    })),
  );
}

/**
 * JSON body: Middy's parser, then the route's schema; the handler gets the typed `body`. With
 * `optional`, a request without a body is validated as `{}` (bodies whose fields are all
 * optional).
 */
export function jsonBody<S extends z.ZodMiniType>(schema: S, options: { readonly optional?: boolean } = {}): InputStep<z.output<S>> {
  const parser = httpJsonBodyParser();
  return {
    read: async (request: ApiRequest) => {
      const { event } = request;
      if (options.optional && !event.body) return validate(schema, {});
      await parser.before?.(request as Parameters<NonNullable<typeof parser.before>>[0]);
      return validate(schema, event.body);
    },
  };
}

/** Query string parameters, validated; the handler gets the typed `query`. */
export function validQuery<S extends z.ZodMiniType>(schema: S): InputStep<z.output<S>> {
  return { read: ({ event }) => validate(schema, event.queryStringParameters ?? {}, '/query') };
}
