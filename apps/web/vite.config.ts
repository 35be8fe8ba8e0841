// SPDX-License-Identifier: Apache-2.0
// The UI is built once into dist/ and served by the controller under a
// Content-Security-Policy of default-src 'self': everything is bundled, and
// nothing is inlined as a data: URL (the policy would refuse it).
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
  plugins: [preact()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    sourcemap: false,
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
});
