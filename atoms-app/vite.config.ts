// Builds the canvas into dist/ (served by `atoms serve --demo`); `npm run dev` proxies the API
// to a local `atoms serve --demo` on CANVAS_API_URL (default http://127.0.0.1:8000).
import { defineConfig } from 'vite';

const api = process.env.CANVAS_API_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/v1': { target: api, ws: true }, '/demo': api } },
});
