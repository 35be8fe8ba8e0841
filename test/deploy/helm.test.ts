// SPDX-License-Identifier: Apache-2.0
/**
 * The Helm chart, checked offline (deploy/helm/check.sh): both renders pass
 * `helm lint` and decode strictly into the Kubernetes API's types, the agent
 * gets the host PID namespace and exactly DESIGN.md's capabilities, nothing is
 * privileged, the other services run as non-root, and a broken values file is
 * caught with the field named.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  type CheckResult,
  PRODUCTION_VALUES,
  REPO,
  daemonSetCapabilities,
  documentedValueKeys,
  find,
  podSpecs,
  readmeValueKeys,
  renderedObjects,
  runCheck,
  valuesFile,
} from './helm-check';

// DESIGN.md "Security": the agent needs these, and no others.
const AGENT_CAPABILITIES = [
  'CAP_BPF',
  'CAP_DAC_READ_SEARCH',
  'CAP_PERFMON',
  'CAP_SYSLOG',
  'CAP_SYS_ADMIN',
  'CAP_SYS_PTRACE',
  'CAP_SYS_RESOURCE',
];
const RENDERS = ['default', 'values-production'];

describe('helm chart', () => {
  let result: CheckResult;
  before(() => {
    result = runCheck('default', PRODUCTION_VALUES);
  });

  it('lints, renders and validates with the default and the production values', () => {
    assert.equal(result.status, 0, result.output);
    for (const name of RENDERS) {
      assert.match(result.output, new RegExp(`${name}\\.yaml: \\d+ objects valid, 0 invalid`));
      const kinds = renderedObjects(result, name).map((o) => o.kind);
      for (const kind of ['DaemonSet', 'Deployment', 'Job', 'Service', 'NetworkPolicy'])
        assert.ok(kinds.includes(kind), `${name}: no ${kind} in ${kinds.join(', ')}`);
    }
  });

  it('runs the agent in the host PID namespace with exactly the capabilities DESIGN.md lists', () => {
    for (const name of RENDERS) {
      const objects = renderedObjects(result, name);
      const pod = find(objects, 'DaemonSet', 'agent').spec!.template!.spec;
      assert.equal(pod.hostPID, true, name);
      assert.deepEqual(daemonSetCapabilities(objects), AGENT_CAPABILITIES, name);
      assert.deepEqual(pod.containers[0]?.securityContext?.capabilities?.drop, ['ALL'], name);
    }
  });

  it('runs no container privileged, and the controller, ingest and migration as non-root', () => {
    for (const name of RENDERS) {
      const objects = renderedObjects(result, name);
      for (const { owner, pod } of podSpecs(objects))
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          assert.notEqual(c.securityContext?.privileged, true, `${name}: ${owner}/${c.name}`);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${owner}/${c.name}`);
        }
      for (const [kind, component] of [
        ['Deployment', 'controller'],
        ['Deployment', 'ingest'],
        ['Job', 'migrate'],
      ] as const) {
        const pod = find(objects, kind, component).spec!.template!.spec;
        for (const c of pod.containers) {
          const sc = c.securityContext;
          assert.equal(sc?.runAsNonRoot, true, `${name}: ${component}/${c.name}`);
          assert.ok((sc?.runAsUser ?? 0) > 0, `${name}: ${component}/${c.name} runs as uid 0`);
          assert.equal(sc?.allowPrivilegeEscalation, false, `${name}: ${component}/${c.name}`);
          assert.deepEqual(sc?.capabilities?.drop, ['ALL'], `${name}: ${component}/${c.name}`);
        }
      }
    }
  });

  it('fails on a misspelt field a values file passes through, naming its path', () => {
    const broken = valuesFile(
      'misspelt-limits',
      'agent:\n  resources:\n    limts:\n      memory: 1Gi\n',
    );
    const r = runCheck(broken);
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /FAIL .*apps\/v1 DaemonSet fleettrace-agent/);
    assert.match(
      r.output,
      /unknown field "spec\.template\.spec\.containers\[0\]\.resources\.limts"/,
    );
    assert.match(r.output, /misspelt-limits\.yaml: \d+ objects valid, 1 invalid/);
  });

  it('fails on a value of the wrong type, naming the field', () => {
    const broken = valuesFile('replicas-word', 'ingest:\n  replicas: three\n');
    const r = runCheck(broken);
    assert.notEqual(r.status, 0, r.output);
    assert.match(
      r.output,
      /FAIL .*apps\/v1 Deployment fleettrace-ingest.*spec\.replicas of type int32/,
    );
  });

  it("lists in README.md's values table exactly the keys values.yaml documents", () => {
    const chart = join(REPO, 'deploy/helm/fleettrace');
    const documented = documentedValueKeys(readFileSync(join(chart, 'values.yaml'), 'utf8'));
    assert.ok(documented.length > 50, `only ${documented.length} documented keys found`);
    assert.deepEqual(readmeValueKeys(readFileSync(join(chart, 'README.md'), 'utf8')), documented);
  });

  it('passes each service only flags its CLI accepts (strict parse, then --help)', () => {
    for (const name of RENDERS) {
      const objects = renderedObjects(result, name);
      for (const [kind, component] of [
        ['DaemonSet', 'agent'],
        ['Deployment', 'controller'],
        ['Deployment', 'ingest'],
        ['Job', 'migrate'],
      ] as const) {
        const args = find(objects, kind, component).spec!.template!.spec.containers[0]!.args!;
        // The CLI parses strictly before it looks at --help: an unknown flag fails.
        const r = spawnSync(join(REPO, 'bin/fleettrace'), [...args, '--help'], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, `${name}: ${component} ${args.join(' ')}\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`usage: fleettrace ${args[0]}`));
      }
    }
  });
});
