// SPDX-License-Identifier: Apache-2.0
/**
 * The layer rules of eslint.config.mjs bite: each fixture under
 * test/fixtures/lint is linted with the project's own config as if it lived
 * at a path inside the workspace, and must fail with the rule and message of
 * the layer it breaks, or pass where the import is allowed.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = resolve(__dirname, '../../..');
const FIXTURES = join(ROOT, 'test/fixtures/lint');
const eslint = new ESLint({ cwd: ROOT });

/** The messages of the layer rules for `fixture` linted as `path` (relative to the root). */
async function layerMessages(fixture: string, path: string): Promise<string[]> {
  const text = readFileSync(join(FIXTURES, fixture), 'utf8');
  const [result] = await eslint.lintText(text, { filePath: join(ROOT, path) });
  assert.ok(result, `no lint result for ${path}`);
  return result.messages.map((m) => `${m.ruleId}: line ${m.line}: ${m.message}`);
}

describe('layer rules', () => {
  const refused: [fixture: string, path: string, expected: string[]][] = [
    [
      'package-imports-service.ts',
      'packages/example/src/uses-agent.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/agent' import is restricted from being used by a pattern. a shared package depends on no service",
      ],
    ],
    [
      'package-imports-service-relative.ts',
      'packages/example/src/uses-agent.ts',
      [
        "no-restricted-imports: line 3: '../../../services/agent/src/agent' import is restricted from being used by a pattern. this relative path leaves its package",
      ],
    ],
    [
      'service-imports-service.ts',
      'services/agent/src/uses-ingest.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/ingest' import is restricted from being used by a pattern. the agent service imports no other service",
      ],
    ],
    [
      'imports-native.ts',
      'services/controller/src/uses-native.ts',
      ["no-restricted-imports: line 4: '@fleettrace/native' import is restricted"],
    ],
    [
      'imports-native.ts',
      'packages/common/src/uses-native.ts',
      ["no-restricted-imports: line 4: '@fleettrace/native' import is restricted"],
    ],
    [
      'imports-native.ts',
      'packages/collectors/src/proc/decoder.ts',
      ["no-restricted-imports: line 4: '@fleettrace/native' import is restricted"],
    ],
    [
      'imports-native.ts',
      'apps/cli/src/uses-native.ts',
      ["no-restricted-imports: line 4: '@fleettrace/native' import is restricted"],
    ],
    [
      'imports-collector-runtime.ts',
      'services/ingest/src/uses-collectors.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/collectors' import is restricted from being used by a pattern. @fleettrace/collectors loads the native addon",
      ],
    ],
    [
      'imports-collector-runtime.ts',
      'services/controller/src/jobs/job-spec.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/collectors' import is restricted from being used by a pattern. @fleettrace/collectors loads the native addon",
      ],
    ],
    [
      'deep-dist.ts',
      'test/pipeline/uses-dist.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/agent/dist/src/jobs/job-runner' import is restricted from being used by a pattern. import the package's entry point",
      ],
    ],
    [
      'service-imports-app.ts',
      'services/controller/src/uses-web.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/web/package.json' import is restricted from being used by a pattern. apps compose services and packages, never the other way round",
      ],
    ],
    [
      'service-imports-app.ts',
      'packages/common/src/uses-web.ts',
      [
        "no-restricted-imports: line 3: '@fleettrace/web/package.json' import is restricted from being used by a pattern. apps compose services and packages",
      ],
    ],
    [
      'web-imports-code.ts',
      'apps/web/src/uses-controller.ts',
      [
        "@typescript-eslint/no-restricted-imports: line 4: '@fleettrace/controller' import is restricted from being used by a pattern. the browser bundle takes only types from the workspace",
        "@typescript-eslint/no-restricted-imports: line 5: 'node:fs' import is restricted from being used by a pattern. the web UI runs in a browser",
      ],
    ],
    [
      'bench-requires.mjs',
      'bench/example/run.mjs',
      [
        'no-restricted-syntax: line 6: only services/agent and the collector runtime',
        'no-restricted-syntax: line 7: this relative path leaves its package',
        'no-restricted-syntax: line 8: this relative path leaves its package',
      ],
    ],
  ];
  for (const [fixture, path, expected] of refused) {
    test(`${fixture} as ${path}: refused`, async () => {
      const messages = await layerMessages(fixture, path);
      assert.equal(messages.length, expected.length, messages.join('\n'));
      expected.forEach((start, i) => assert.ok(messages[i]?.startsWith(start), messages[i]));
    });
  }

  const allowed: [fixture: string, path: string][] = [
    ['imports-native.ts', 'packages/collectors/src/proc/collector.ts'],
    ['imports-native.ts', 'packages/collectors/src/runtime/uses-native.ts'],
    ['imports-native.ts', 'services/agent/src/jobs/uses-native.ts'],
    ['imports-manifests.ts', 'services/ingest/src/uses-manifests.ts'],
    ['app-composes-services.ts', 'apps/example/src/main.ts'],
    ['package-imports-service.ts', 'test/cli/uses-agent.ts'],
    ['web-imports-types.ts', 'apps/web/src/uses-types.ts'],
  ];
  for (const [fixture, path] of allowed) {
    test(`${fixture} as ${path}: allowed`, async () => {
      assert.deepEqual(await layerMessages(fixture, path), []);
    });
  }

  test('pnpm lint skips the fixtures themselves', async () => {
    assert.equal(await eslint.isPathIgnored(join(FIXTURES, 'package-imports-service.ts')), true);
  });
});

/*
 * What a service's install pulls in: its `dependencies` and required peers,
 * following workspace packages. Dev dependencies and optional peers are not
 * installed for a dependency (`pnpm deploy --prod` leaves them out), which is
 * how the collectors package keeps the native addon out of the controller.
 */
function installClosure(name: string): Set<string> {
  const dirs = new Map<string, string>();
  for (const group of ['packages', 'services', 'apps']) {
    for (const entry of readdirSync(join(ROOT, group))) {
      const file = join(ROOT, group, entry, 'package.json');
      if (existsSync(file)) dirs.set(JSON.parse(readFileSync(file, 'utf8')).name, file);
    }
  }
  dirs.set('@fleettrace/native', join(ROOT, 'native/package.json'));
  dirs.set('@fleettrace/proto', join(ROOT, 'proto/package.json'));
  const seen = new Set<string>();
  const visit = (pkg: string): void => {
    if (seen.has(pkg)) return;
    seen.add(pkg);
    const file = dirs.get(pkg);
    if (!file) return;
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const optionalPeers = json.peerDependenciesMeta ?? {};
    for (const dep of Object.keys(json.dependencies ?? {})) visit(dep);
    for (const dep of Object.keys(json.peerDependencies ?? {}))
      if (!optionalPeers[dep]?.optional) visit(dep);
  };
  visit(name);
  return seen;
}

describe('install-time layers', () => {
  for (const service of ['@fleettrace/controller', '@fleettrace/ingest']) {
    test(`${service}'s install needs no native addon (libbpf)`, () => {
      const closure = installClosure(service);
      assert.ok(closure.has('@fleettrace/collectors'), 'reads the manifests');
      assert.equal(closure.has('@fleettrace/native'), false, [...closure].join(', '));
    });
  }
  test('the agent installs the native addon', () => {
    assert.ok(installClosure('@fleettrace/agent').has('@fleettrace/native'));
  });
});
