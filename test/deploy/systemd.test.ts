// SPDX-License-Identifier: Apache-2.0
/**
 * The systemd units pass `systemd-analyze verify` (deploy/systemd/verify.sh),
 * and the agent's unit grants the same capabilities as the Helm chart's
 * DaemonSet. The two files cannot share one list (Helm reads only files inside
 * the chart, systemd only its unit), so this test is what keeps them equal.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO, daemonSetCapabilities, renderedObjects, runCheck } from './helm-check';

const AGENT_UNIT = join(REPO, 'deploy/systemd/fleettrace-agent.service');

/** The capabilities of one directive of the agent's unit, sorted. */
function unitCapabilities(directive: string): string[] {
  const unit = readFileSync(AGENT_UNIT, 'utf8');
  const line = unit.split('\n').find((l) => l.startsWith(`${directive}=`));
  assert.ok(line, `${AGENT_UNIT}: no ${directive}=`);
  return line
    .slice(directive.length + 1)
    .trim()
    .split(/\s+/)
    .sort();
}

describe('systemd units', () => {
  it('pass systemd-analyze verify', () => {
    const r = spawnSync('sh', [join(REPO, 'deploy/systemd/verify.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /systemd-analyze verify: ok/);
  });

  it("give the agent the DaemonSet's capabilities, bounding and ambient alike", () => {
    const check = runCheck('default');
    assert.equal(check.status, 0, check.output);
    const daemonSet = daemonSetCapabilities(renderedObjects(check, 'default'));
    assert.equal(daemonSet.length, 7, `DaemonSet: ${daemonSet.join(' ')}`);
    assert.deepEqual(unitCapabilities('CapabilityBoundingSet'), daemonSet);
    assert.deepEqual(unitCapabilities('AmbientCapabilities'), daemonSet);
  });
});
