/**
 * Builds the dashboard page into static files (`web/dist`), served by the
 * server at `/`. Run with this folder as the root (`vite build web`).
 *
 * Everything is bundled: no CDN, no external fonts, no runtime network other
 * than the page's own `/ws` socket. Relative imports of the shared protocol
 * modules (`../../src/shared/*.js`) resolve to their `.ts` sources, which
 * Vite does for TypeScript importers out of the box.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  // The page is served by our own server; the dev server proxies the socket to it.
  server: {
    proxy: { '/ws': { target: 'ws://127.0.0.1:6052', ws: true } },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // One small app: a single chunk keeps the first paint to two requests.
    chunkSizeWarningLimit: 400,
  },
});
