// SPDX-License-Identifier: Apache-2.0
import type { BpfObject, ProgramStats } from '@fleettrace/native';
import type { CollectorSession, DrainResult } from './definition';
import { applyKernelFilter, type KernelFilter } from './filters';

/**
 * What every session over one loaded BPF object does the same way: run-time
 * statistics of its programs, the kernel filter, and close. Collectors add
 * drain() (and degrade() where they can lower their cost).
 */
export abstract class BpfSession<Row> implements CollectorSession<Row> {
  constructor(protected readonly obj: BpfObject) {}

  abstract drain(): Promise<DrainResult<Row>>;

  /** Programs not loaded (autoload off) have no statistics. */
  programStats(): ProgramStats[] {
    return this.obj
      .programs()
      .filter((p) => p.fd >= 0)
      .map((p) => this.obj.programStats(p.name));
  }

  setKernelFilter(filter: KernelFilter): void {
    applyKernelFilter(this.obj, filter);
  }

  async close(): Promise<void> {
    await this.obj.close();
  }
}
