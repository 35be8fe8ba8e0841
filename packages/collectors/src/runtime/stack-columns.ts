// SPDX-License-Identifier: Apache-2.0
/** Columns of a row with a stack (ResolvedStack in stacks.ts); the frames are in fleettrace.stacks. */
import type { Column } from '@fleettrace/collector-spec';

export const STACK_COLUMNS: Column[] = [
  {
    name: 'stack_id',
    type: 'String',
    doc: 'hash of the symbolized frames (16 hex digits), joins `fleettrace.stacks`; empty when the stack was lost',
  },
  { name: 'user_depth', type: 'UInt32', doc: 'user frames' },
  { name: 'truncated', type: 'UInt8', doc: 'unwinding stopped before the first frame' },
  { name: 'missing', type: 'LowCardinality(String)', doc: 'why the stack is missing, or empty' },
  { name: 'jit_frames', type: 'UInt32', doc: 'frames in JIT or interpreter code, not resolved' },
];
