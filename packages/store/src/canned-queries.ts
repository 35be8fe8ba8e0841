// SPDX-License-Identifier: Apache-2.0
/**
 * The SQL behind `fleettrace top` and `fleettrace crashes`, for the CLI and
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
 * CPU time (from cpu_profile samples, weighted) and syscalls (count, errors,
 * time in them) per uid, comm or host over the window, busiest first. FINAL
 * makes a batch stored twice count once.
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
       uniqExact(host_) AS hosts
FROM
(
    SELECT ${key === 'uid' ? 'uid, user' : key}, host AS host_, sum(cpu_ns * weight) / 1e9 AS cpu_s,
           0 AS syscalls, 0 AS syscall_errors, 0 AS syscall_s
    FROM fleettrace.cpu_profile FINAL
    WHERE ${where}
    GROUP BY ${key === 'uid' ? 'uid, user' : key}, host
    UNION ALL
    SELECT ${key === 'uid' ? 'uid, user' : key}, host AS host_, 0 AS cpu_s,
           sum(count * weight) AS syscalls, sum(errors * weight) AS syscall_errors,
           sum(total_ns * weight) / 1e9 AS syscall_s
    FROM fleettrace.syscalls FINAL
    WHERE ${where}
    GROUP BY ${key === 'uid' ? 'uid, user' : key}, host
)
GROUP BY ${key}
ORDER BY cpu_s DESC, syscall_s DESC
LIMIT ${limit}`;
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
