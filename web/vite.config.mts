import { defineConfig } from 'vite';

/**
 * The web client's build: plain static files for the `web` function (functions/web.ts) to serve
 * at `/` and `/assets/*`. Preact through Oxc's automatic JSX runtime, no plugin needed.
 */
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // Never inline assets as data: URLs (the CSP allows images from 'self' only).
    assetsInlineLimit: 0,
    // No module preload polyfill: it is an inline-free script, but modern browsers need none.
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
});
