// SPDX-License-Identifier: Apache-2.0
/**
 * Runs deploy/helm/check.sh (helm lint + template + the strict validator) and
 * reads back what it rendered. Shared by the chart's and the systemd units'
 * tests. The first run on a cache directory builds helm from the Go module
 * proxy (minutes); later runs reuse it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '../../..');
export const CHECK = join(REPO, 'deploy/helm/check.sh');
export const PRODUCTION_VALUES = join(REPO, 'deploy/helm/fleettrace/values-production.yaml');

/** Temporary directories of this process's renders and values files, removed at exit. */
const temporary: string[] = [];
process.on('exit', () => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function temporaryDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}

export interface CheckResult {
  status: number | null;
  /** stdout and stderr, interleaved as written */
  output: string;
  /** where the renders (NAME.yaml) and decoded objects (NAME.json) are */
  outDir: string;
}

/** Runs check.sh on the given values files ("default" = the chart's own). */
export function runCheck(...values: string[]): CheckResult {
  const outDir = temporaryDirectory('fleettrace-helm-');
  const r = spawnSync('sh', ['-c', `"$0" "$@" 2>&1`, CHECK, ...values], {
    env: { ...process.env, FLEETTRACE_HELM_OUT: outDir },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status, output: r.stdout, outDir };
}

/** A values file with this YAML text, in a fresh temporary directory. */
export function valuesFile(name: string, yaml: string): string {
  const file = join(temporaryDirectory('fleettrace-values-'), `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

/** The parts of a rendered object these tests read. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec: PodSpec };
    jobTemplate?: never;
  };
}

export interface PodSpec {
  hostPID?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  initContainers?: Container[];
}

export interface Container {
  name: string;
  args?: string[];
  command?: string[];
  securityContext?: {
    privileged?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
}

/** The objects the validator decoded from one render ("default", "values-production"). */
export function renderedObjects(result: CheckResult, name: string): K8sObject[] {
  return JSON.parse(readFileSync(join(result.outDir, `${name}.json`), 'utf8')) as K8sObject[];
}

export function find(objects: K8sObject[], kind: string, component: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name.endsWith(`-${component}`));
  if (!o) throw new Error(`no ${kind} for ${component} in the render`);
  return o;
}

/** Every pod template of the render with the object it belongs to. */
export function podSpecs(objects: K8sObject[]): Array<{ owner: string; pod: PodSpec }> {
  return objects
    .filter((o) => o.spec?.template?.spec)
    .map((o) => ({ owner: `${o.kind} ${o.metadata.name}`, pod: o.spec!.template!.spec }));
}

/** The agent's capabilities in the rendered DaemonSet, as systemd spells them (CAP_BPF, ...). */
export function daemonSetCapabilities(objects: K8sObject[]): string[] {
  const pod = find(objects, 'DaemonSet', 'agent').spec!.template!.spec;
  const add = pod.containers[0]?.securityContext?.capabilities?.add ?? [];
  return add.map((c) => `CAP_${c}`).sort();
}

/**
 * The keys of the chart's values.yaml that carry a "# -- " description, as
 * dotted paths. Keys are found by indentation; list items are never keys.
 */
export function documentedValueKeys(valuesYaml: string): string[] {
  const keys: string[] = [];
  const stack: Array<{ indent: number; key: string }> = [];
  let described = false;
  for (const line of valuesYaml.split('\n')) {
    const comment = /^\s*#(.*)$/.exec(line);
    if (comment) {
      if (comment[1]!.startsWith(' -- ')) described = true;
      continue;
    }
    const key = /^(\s*)([A-Za-z][\w-]*):/.exec(line);
    if (key) {
      const indent = key[1]!.length;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      stack.push({ indent, key: key[2]! });
      if (described) keys.push(stack.map((s) => s.key).join('.'));
    }
    described = false;
  }
  return keys;
}

/** The first column of the chart README's values table. */
export function readmeValueKeys(readme: string): string[] {
  return [...readme.matchAll(/^\| `([\w.-]+)` +\|/gm)].map((m) => m[1]!);
}
