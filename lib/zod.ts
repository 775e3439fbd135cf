/**
 * zod's functional build (`zod/mini`) with zod's English messages.
 *
 * Classic `zod` puts its whole method-chaining API (~90 KB minified) into every function that
 * validates anything, even when imported as a namespace; `zod/mini` is the same zod 4 core
 * (same parsing, issues, registries and JSON Schema conversion) with tree-shakable functions:
 * 25-29 KB per function here, the English messages (~2.6 KB) included. Unlike classic zod it registers no locale, so problems would read "Invalid
 * input": English is registered once here, and every schema module imports `z` from here so
 * the 422 and configuration messages stay the ones classic zod produced.
 *
 * Import it as a namespace (`import * as z from './zod'`). Never re-export or pass around zod's own `z`
 * object: a namespace used as a value keeps everything it names, every locale included.
 */
import { config, globalRegistry, type core, type ZodMiniType } from 'zod/mini';
import { en } from 'zod/locales';

config(en());

export * from 'zod/mini';

/**
 * Registers OpenAPI metadata (`id`, `example`, `description`, `format`...) for `schema` in
 * zod's global registry, which `toJSONSchema` reads; returns the same schema.
 */
export function withMeta<S extends ZodMiniType>(schema: S, metadata: core.GlobalMeta): S {
  globalRegistry.add(schema, metadata);
  return schema;
}
