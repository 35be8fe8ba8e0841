// SPDX-License-Identifier: Apache-2.0
// One lint setup for every TypeScript package in the workspace.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layers (STYLE.md convention 4): apps/ compose services, services/ depend on
// shared packages and never on each other nor on apps/, packages/ depend on no
// service or app, the web UI (apps/web, a browser bundle) takes only types
// from the workspace,
// and only the agent and the collector runtime load the native addon (the
// controller and ingest run on hosts without libbpf). Each restriction is a
// regular expression on the import specifier, checked for import and export
// declarations (no-restricted-imports) and for require() and import() calls
// (no-restricted-syntax, for the .mjs benches and the CLI's lazy loads).
// test/lint/layers.test.ts shows that each one bites.
const SOURCES = '**/*.{ts,tsx,mts,cts,js,mjs,cjs}';
const under = (...dirs) => dirs.map((d) => `${d}/${SOURCES}`);
const SERVICES = ['agent', 'controller', 'ingest'];

const DEEP = {
  regex: '^@fleettrace/[^/]+/(dist|src)(/|$)',
  message:
    "import the package's entry point or a subpath its package.json exports, not its dist/ or src/ files",
};
const LEAVES_PACKAGE = {
  regex: '^(\\.\\./)+((apps|packages|services|native|proto)/|[^./][^/]*/(src|dist|test)(/|$))',
  message: 'this relative path leaves its package: import the package by its name',
};
const ANY_APP = {
  regex: '^@fleettrace/(cli|web)(/|$)',
  message:
    'apps compose services and packages, never the other way round: take what an app provides as configuration (the controller takes the UI directory as uiDir)',
};
const ANY_SERVICE = {
  regex: `^@fleettrace/(${SERVICES.join('|')})(/|$)`,
  message:
    'a shared package depends on no service: move what both need into packages/ (only apps/ compose services)',
};
const otherServices = (self) => ({
  regex: `^@fleettrace/(${SERVICES.filter((s) => s !== self).join('|')})(/|$)`,
  message: `the ${self} service imports no other service: share through packages/, compose in apps/`,
});
const NATIVE = {
  regex: '^@fleettrace/native(/|$)',
  message:
    'only services/agent and the collector runtime (packages/collectors/src/runtime, src/<collector>/collector.ts) load the native addon',
};
const COLLECTOR_RUNTIME = {
  regex: '^@fleettrace/collectors$',
  message:
    "@fleettrace/collectors loads the native addon: use '@fleettrace/collectors/manifests' or '@fleettrace/collector-spec', which are kernel-free",
};

/** No-restricted-syntax selectors for require('x'), require(`x${y}`), import('x') and import(`x${y}`). */
const callSelectors = ({ regex, message }) => {
  const re = `/${regex.replaceAll('/', '\\/')}/`;
  return [
    `CallExpression[callee.name='require'][arguments.0.value=${re}]`,
    `CallExpression[callee.name='require'][arguments.0.quasis.0.value.raw=${re}]`,
    `ImportExpression[source.value=${re}]`,
    `ImportExpression[source.quasis.0.value.raw=${re}]`,
  ].map((selector) => ({ selector, message }));
};

/**
 * One config object per layer. A later object that matches the same file
 * replaces an earlier one's options for these rules (flat config does not
 * merge them), so every layer lists all of its restrictions.
 */
const layer = (files, restrictions) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: restrictions.map((r) => ({ ...r, caseSensitive: true })) },
    ],
    'no-restricted-syntax': ['error', ...restrictions.flatMap(callSelectors)],
  },
});

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/build/**',
      '**/node_modules/**',
      '**/*.gen.ts',
      'bpf/**',
      'proto/gen/**',
      // Deliberate violations, linted by test/lint/layers.test.ts under made-up paths.
      'test/fixtures/lint/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
      },
    },
  },
  // Everything else (apps/, test/, bench/, scripts/) may import any package by
  // its name, apps/ and test/ the services too.
  layer([SOURCES], [DEEP, LEAVES_PACKAGE, NATIVE]),
  layer(under('packages', 'proto'), [DEEP, LEAVES_PACKAGE, ANY_SERVICE, ANY_APP, NATIVE]),
  layer(under('native'), [DEEP, LEAVES_PACKAGE, ANY_SERVICE, ANY_APP]),
  layer(
    [
      ...under('packages/collectors/src/runtime', 'packages/collectors/test'),
      'packages/collectors/src/*/collector.ts',
      // a collector kept outside the package (FLEETTRACE_COLLECTOR_PATH), like the registry test's fixture
      'test/fixtures/collectors/*/collector.ts',
    ],
    [DEEP, LEAVES_PACKAGE, ANY_SERVICE, ANY_APP],
  ),
  layer(under('services/agent'), [DEEP, LEAVES_PACKAGE, otherServices('agent'), ANY_APP]),
  ...['controller', 'ingest'].map((self) =>
    layer(under(`services/${self}`), [
      DEEP,
      LEAVES_PACKAGE,
      otherServices(self),
      ANY_APP,
      NATIVE,
      COLLECTOR_RUNTIME,
    ]),
  ),
  // The web UI runs in a browser: from the workspace it takes the REST API's
  // types (erased from the bundle), never code, and no Node.js module.
  layer(under('apps/web'), [DEEP, LEAVES_PACKAGE, NATIVE]),
  {
    files: under('apps/web'),
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'navigator',
          'sessionStorage',
          'fetch',
          'Response',
          'Request',
          'Headers',
          'URLSearchParams',
          'URL',
          'Blob',
          'HTMLElement',
          'HTMLInputElement',
          'HTMLTextAreaElement',
          'Event',
          'performance',
          'addEventListener',
          'removeEventListener',
          'setTimeout',
          'clearTimeout',
          'console',
        ].map((name) => [name, 'readonly']),
      ),
    },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@fleettrace/',
              allowTypeImports: true,
              message:
                'the browser bundle takes only types from the workspace (import type): its code would pull Node.js into the page',
            },
            {
              regex: '^node:',
              message: 'the web UI runs in a browser: no Node.js modules',
            },
          ],
        },
      ],
    },
  },
  // The "floor" of these benchmarks is empty BPF programs attached with the
  // addon itself, below any collector: the benches that load it directly.
  layer(
    ['bench/syscall-overhead/run.mjs', 'bench/collectors-overhead/run.mjs'],
    [DEEP, LEAVES_PACKAGE],
  ),
);
