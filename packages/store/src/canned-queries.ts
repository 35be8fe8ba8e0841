// SPDX-License-Identifier: Apache-2.0
/**
 * The SQL behind `fleettrace top` (and its `--stacks`) and `fleettrace crashes`, for the CLI and
 * the controller's views alike. Parameters are validated here and inlined as
 * literals (the query API takes one statement and no parameters), so every
 * value that reaches the text is a number or a quoted, escaped string.
 */

export type TopDimension = 'uid' | 'comm' | 'host';

export interface TopOptions {
  by: TopDimension;
  /** look back this many seconds */
  sinceS: number;
  /** only these hosts (empty: all) */
  hosts?: string[];
  limit?: number;
}

function literal(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => '\\' + c)}'`;
}

function seconds(n: number): number {
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`since: expected a positive duration, got ${n}`);
  return Math.ceil(n);
}

function hostFilter(hosts: string[] | undefined): string {
  return hosts && hosts.length ? ` AND host IN (${hosts.map(literal).join(', ')})` : '';
}

const KEY: Record<TopDimension, { select: string; group: string }> = {
  uid: { select: 'uid, any(user) AS user', group: 'uid' },
  comm: { select: 'comm', group: 'comm' },
  host: { select: 'host', group: 'host' },
};

/**
 * Syscalls whose time is spent waiting for something else to happen (an
 * event, a lock, a timer, a child, a signal, a connection, a message): an idle
 * daemon sits in them for hours without using anything. `top` shows their
 * time apart (WAIT_S) so that it does not make idle look busy. Reads and
 * writes stay in the busy column even when they block on a socket or a pipe:
 * the syscalls table cannot tell a blocked read from a copying one (offcpu's
 * stacks can).
 */
export const WAIT_SYSCALLS: readonly string[] = [
  // readiness and event waits
  'poll',
  'ppoll',
  'select',
  'pselect6',
  'epoll_wait',
  'epoll_pwait',
  'epoll_pwait2',
  'io_getevents',
  'io_pgetevents',
  'io_uring_enter',
  // locks and IPC waits
  'futex',
  'futex_wait',
  'futex_waitv',
  'semop',
  'semtimedop',
  'msgrcv',
  'mq_timedreceive',
  'flock',
  // sleeps and timers
  'nanosleep',
  'clock_nanosleep',
  'pause',
  'alarm',
  // children and signals
  'wait4',
  'waitid',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'sigsuspend',
  // waiting for a peer
  'accept',
  'accept4',
];

/** `syscall IN (...)` of the waiting syscalls. */
function waitList(): string {
  return `(${WAIT_SYSCALLS.map(literal).join(', ')})`;
}

/**
 * CPU time (from cpu_profile samples, weighted) and syscalls per uid, comm or
 * host over the window, busiest first: calls, errors, time in syscalls that
 * work (`syscall_s`) and time in syscalls that wait (`wait_s`, see
 * WAIT_SYSCALLS). FINAL makes a batch stored twice count once.
 */
export function topSql(o: TopOptions): string {
  const k = KEY[o.by];
  if (!k) throw new RangeError(`by: expected uid, comm or host, got ${String(o.by)}`);
  const since = seconds(o.sinceS);
  const limit = Math.max(1, Math.min(1000, Math.floor(o.limit ?? 20)));
  const where = `time >= now() - ${since}${hostFilter(o.hosts)}`;
  const key = k.group;
  return `SELECT ${key === 'uid' ? 'uid, any(user) AS user' : key},
       sum(cpu_s) AS cpu_s,
       sum(syscalls) AS syscalls,
       sum(syscall_errors) AS syscall_errors,
       sum(syscall_s) AS syscall_s,
       sum(wait_s) AS wait_s,
       uniqExact(host_) AS hosts
FROM
(
    SELECT ${key === 'uid' ? 'uid, user' : key}, host AS host_, sum(cpu_ns * weight) / 1e9 AS cpu_s,
           0 AS syscalls, 0 AS syscall_errors, 0 AS syscall_s, 0 AS wait_s
    FROM fleettrace.cpu_profile FINAL
    WHERE ${where}
    GROUP BY ${key === 'uid' ? 'uid, user' : key}, host
    UNION ALL
    SELECT ${key === 'uid' ? 'uid, user' : key}, host AS host_, 0 AS cpu_s,
           sum(count * weight) AS syscalls, sum(errors * weight) AS syscall_errors,
           sum(if(syscall IN ${waitList()}, 0, total_ns * weight)) / 1e9 AS syscall_s,
           sum(if(syscall IN ${waitList()}, total_ns * weight, 0)) / 1e9 AS wait_s
    FROM fleettrace.syscalls FINAL
    WHERE ${where}
    GROUP BY ${key === 'uid' ? 'uid, user' : key}, host
)
GROUP BY ${key}
ORDER BY cpu_s DESC, syscall_s DESC
LIMIT ${limit}`;
}

export interface TopFunctionsOptions extends TopOptions {
  /** the rows of `top` to explain: uids, comms or hosts */
  keys: Array<string | number>;
  /** functions per key (default 3) */
  perKey?: number;
}

/**
 * A frame as a function: `fn+0x1a (module)` becomes `fn (module)`; a frame
 * that was not symbolized (`module+0x1234`) keeps its offset, the only name
 * it has.
 */
const FUNCTION_OF_FRAME = String.raw`replaceRegexpOne(f, '\\+0x[0-9a-fA-F]+ \\(', ' (')`;

/**
 * The hottest functions behind each `top` row's CPU time: per key, the
 * functions with the most self time (the leaf of the sampled stacks) and
 * their total time (anywhere on the stack, each stack counted once), in
 * weighted CPU seconds, hottest self first; `perKey` functions per key.
 * Stacks the agent could not take (empty stack_id) are not in it.
 */
export function topFunctionsSql(o: TopFunctionsOptions): string {
  const k = KEY[o.by];
  if (!k) throw new RangeError(`by: expected uid, comm or host, got ${String(o.by)}`);
  const since = seconds(o.sinceS);
  const perKey = Math.max(1, Math.min(50, Math.floor(o.perKey ?? 3)));
  const keys = o.keys.map((v) => {
    if (o.by === 'uid') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 4294967295)
        throw new RangeError(`keys: expected uids, got ${JSON.stringify(v)}`);
      return String(n);
    }
    return literal(String(v));
  });
  // No key, no row: IN () is not SQL.
  const keyFilter = keys.length ? `${k.group} IN (${keys.join(', ')})` : '0';
  return `SELECT key AS ${k.group}, fn AS function,
       sum(if(fn = leaf, v, 0)) / 1e9 AS self_s,
       sum(v) / 1e9 AS total_s
FROM
(
    SELECT key, v, fns, fns[1] AS leaf
    FROM
    (
        SELECT ${k.group} AS key, stack_id, sum(cpu_ns * weight) AS v
        FROM fleettrace.cpu_profile FINAL
        WHERE time >= now() - ${since}${hostFilter(o.hosts)} AND stack_id != '' AND ${keyFilter}
        GROUP BY key, stack_id
    ) AS p
    ALL INNER JOIN
    (
        SELECT stack_id,
               arrayMap(f -> ${FUNCTION_OF_FRAME}, arrayConcat(any(kernel_frames), any(user_frames))) AS fns
        FROM fleettrace.stacks
        GROUP BY stack_id
    ) AS s USING stack_id
)
ARRAY JOIN arrayReduce('groupUniqArray', fns) AS fn
GROUP BY key, fn
ORDER BY key, self_s DESC, total_s DESC, fn
LIMIT ${perKey} BY key`;
}

export interface CrashesOptions {
  sinceS: number;
  hosts?: string[];
  limit?: number;
}

/**
 * Processes that died by a signal, OOM kills, and fatal signals sent (with
 * sender and target), newest first.
 */
export function crashesSql(o: CrashesOptions): string {
  const since = seconds(o.sinceS);
  const limit = Math.max(1, Math.min(10_000, Math.floor(o.limit ?? 100)));
  const fatal = '(6, 7, 8, 9, 11, 4, 5, 24, 25, 31)';
  return `SELECT time, host, event, pid, uid, user, comm,
       signal, signal_name, core_dumped,
       target_pid, target_uid, target_user, target_comm,
       anon_rss_kb + file_rss_kb + shmem_rss_kb AS rss_kb,
       trigger_comm
FROM fleettrace.proc FINAL
WHERE time >= now() - ${since}${hostFilter(o.hosts)}
  AND ((event = 'exit' AND signal != 0)
       OR event = 'oom_kill'
       OR (event = 'signal' AND signal IN ${fatal}))
ORDER BY ts_ns DESC
LIMIT ${limit}`;
}

export interface ProfileOptions {
  /** on-CPU samples, or time blocked off the CPU */
  collector: 'cpu_profile' | 'offcpu';
  sinceS: number;
  hosts?: string[];
  uid?: number;
  comm?: string;
  pid?: number;
  jobId?: string;
  /** functions to list (default 30) */
  limit?: number;
}

function integerIn(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name}: expected an integer in [${min}, ${max}], got ${v}`);
  return v;
}

/**
 * The functions behind a selection's CPU time (cpu_profile) or blocked time
 * (offcpu), perf report–style: per function its self time (leaf of the
 * stacks) and total time (anywhere on them, each stack once), in weighted
 * seconds, with `all_s` the selection's whole time (stacks lost included) for
 * percentages. Hottest total first.
 */
export function profileFunctionsSql(o: ProfileOptions): string {
  if (o.collector !== 'cpu_profile' && o.collector !== 'offcpu')
    throw new RangeError(`collector: expected cpu_profile or offcpu, got ${String(o.collector)}`);
  const since = seconds(o.sinceS);
  const limit = Math.max(1, Math.min(1000, Math.floor(o.limit ?? 30)));
  const value = o.collector === 'cpu_profile' ? 'cpu_ns * weight' : 'total_ns * weight';
  const where = [`time >= now() - ${since}`];
  if (o.hosts?.length) where.push(`host IN (${o.hosts.map(literal).join(', ')})`);
  if (o.uid !== undefined) where.push(`uid = ${integerIn('uid', o.uid, 0, 4294967295)}`);
  if (o.pid !== undefined) where.push(`pid = ${integerIn('pid', o.pid, 1, 4194304)}`);
  if (o.comm !== undefined) where.push(`comm = ${literal(o.comm)}`);
  if (o.jobId !== undefined) where.push(`job_id = ${literal(o.jobId)}`);
  const filter = where.join(' AND ');
  return `SELECT fn AS function,
       sum(if(fn = leaf, v, 0)) / 1e9 AS self_s,
       sum(v) / 1e9 AS total_s,
       (SELECT sum(${value}) FROM fleettrace.${o.collector} FINAL WHERE ${filter}) / 1e9 AS all_s
FROM
(
    SELECT v, fns, fns[1] AS leaf
    FROM
    (
        SELECT stack_id, sum(${value}) AS v
        FROM fleettrace.${o.collector} FINAL
        WHERE ${filter} AND stack_id != ''
        GROUP BY stack_id
    ) AS p
    ALL INNER JOIN
    (
        SELECT stack_id,
               arrayMap(f -> ${FUNCTION_OF_FRAME}, arrayConcat(any(kernel_frames), any(user_frames))) AS fns
        FROM fleettrace.stacks
        GROUP BY stack_id
    ) AS s USING stack_id
)
ARRAY JOIN arrayReduce('groupUniqArray', fns) AS fn
GROUP BY fn
ORDER BY total_s DESC, self_s DESC, fn
LIMIT ${limit}`;
}
