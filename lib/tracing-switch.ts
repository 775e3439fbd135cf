/**
 * The tracing module (lib/tracing.ts) when this build traces, otherwise undefined.
 *
 * `process.env.TRACING_ENABLED` is a build-time constant in Lambda bundles (esbuild `define`
 * from `-c tracing=true`): with tracing off the condition folds to false and esbuild drops the
 * `require`, so no tracer code ships. Every tracing hook goes through here, so the switch and
 * the lazy load exist once.
 */
export function optionalTracing(): typeof import('./tracing') | undefined {
  return process.env.TRACING_ENABLED === 'true' ? (require('./tracing') as typeof import('./tracing')) : undefined;
}
