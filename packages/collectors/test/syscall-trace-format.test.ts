// SPDX-License-Identifier: Apache-2.0
/**
 * syscall_trace decoding and strace-style rendering: pure functions of an
 * event, so these are unit tests on hand-built register values (the values a
 * real x86_64 process puts there, e.g. glibc's openat with AT_FDCWD).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { syscallName } from '@fleettrace/common';
import { formatCall, quotePath } from '../src/syscall_trace/strace-format';
import {
  decodeArgs,
  flagsToString,
  formatReturn,
  pathArgumentIndex,
  type SyscallEvent,
} from '../src/syscall_trace/syscall-args';

/** x86_64 syscall number by name, from the same table the code uses. */
function nr(name: string): number {
  for (let n = 0; n < 1024; n++) if (syscallName(n) === name) return n;
  throw new Error(`no syscall named ${name}`);
}

const STACK_PTR = 0x7ffc1d2e3f40n;
const ENOENT = 2n;

function event(
  name: string | number,
  args: bigint[],
  ret: bigint,
  extra: Partial<SyscallEvent> = {},
): SyscallEvent {
  return {
    ts_ns: 1_700_000_000_000_000_000n,
    pid: 1234,
    tid: 1234,
    uid: 1000,
    user: 'alice',
    comm: 'cat',
    cgroup: '/user.slice',
    nr: typeof name === 'number' ? name : nr(name),
    args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
    ret,
    duration_ns: 4000,
    ...extra,
  };
}

const noPid = { showPid: false };

describe('formatCall', () => {
  test('openat of a missing file, as strace -f -T prints it', () => {
    const ev = event('openat', [0xffffffffffffff9cn, STACK_PTR, 0o2000000n], -ENOENT, {
      duration_ns: 12_000,
      path: '/nonexistent/x',
    });
    assert.equal(ev.nr, 257);
    assert.equal(
      formatCall(ev),
      '[pid  1234] openat(AT_FDCWD, "/nonexistent/x", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory) <0.000012>',
    );
  });

  test('AT_FDCWD is recognised from the low 32 bits whatever the upper half holds', () => {
    for (const dirfd of [0xffffffffffffff9cn, 0x00000000ffffff9cn]) {
      const ev = event('openat', [dirfd, STACK_PTR, 0n], 3n, { path: '/etc/hosts' });
      assert.equal(
        formatCall(ev, noPid),
        'openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 3 <0.000004>',
        `dirfd register ${dirfd.toString(16)}`,
      );
      assert.deepEqual(decodeArgs(ev)[0], { name: 'dirfd', value: 'AT_FDCWD' });
    }
    const realDir = event('openat', [5n, STACK_PTR, 0n], 3n, { path: 'hosts' });
    assert.equal(formatCall(realDir, noPid), 'openat(5, "hosts", O_RDONLY) = 3 <0.000004>');
  });

  test('write of 100 bytes: the buffer is its size, never its content', () => {
    const ev = event('write', [3n, STACK_PTR, 100n], 100n);
    assert.equal(formatCall(ev, noPid), 'write(3, <100 bytes>, 100) = 100 <0.000004>');
  });

  test('read at end of file shows the requested size and returns 0', () => {
    const ev = event('read', [3n, STACK_PTR, 4096n], 0n, { duration_ns: 2_500 });
    assert.equal(formatCall(ev, noPid), 'read(3, <4096 bytes>, 4096) = 0 <0.000003>');
  });

  test('close', () => {
    assert.equal(formatCall(event('close', [3n], 0n), noPid), 'close(3) = 0 <0.000004>');
    assert.equal(
      formatCall(event('close', [0xffffffffn], -9n), noPid),
      'close(-1) = -1 EBADF (Bad file number) <0.000004>',
    );
  });

  test('mmap of anonymous private memory returns an address in hex', () => {
    const ev = event('mmap', [0n, 8192n, 0x3n, 0x22n, 0xffffffffn, 0n], 0x7f3a1c2b4000n, {
      duration_ns: 7_000,
    });
    assert.equal(
      formatCall(ev, noPid),
      'mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3a1c2b4000 <0.000007>',
    );
  });

  test('mmap of a file, huge pages and unknown flag bits', () => {
    const file = event('mmap', [0n, 4096n, 0x5n, 0x802n, 3n, 0n], 0x7f3a1c2b4000n);
    assert.equal(
      formatCall(file, noPid),
      'mmap(NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = 0x7f3a1c2b4000 <0.000004>',
    );
    // MAP_HUGETLB with log2(2 MiB) = 21 in bits 26..31.
    const huge = event('mmap', [0n, 2n << 20n, 0x3n, 0x40022n | (21n << 26n), 0xffffffffn], -12n);
    assert.equal(
      formatCall(huge, noPid),
      'mmap(NULL, 2097152, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB, -1, 0) = -1 ENOMEM (Out of memory) <0.000004>',
    );
    const guard = event('mprotect', [0x7f3a1c2b4000n, 4096n, 0n], 0n);
    assert.equal(
      formatCall(guard, noPid),
      'mprotect(0x7f3a1c2b4000, 4096, PROT_NONE) = 0 <0.000004>',
    );
  });

  test('brk returns an address', () => {
    assert.equal(
      formatCall(event('brk', [0n], 0x55d0c4a3e000n), noPid),
      'brk(NULL) = 0x55d0c4a3e000 <0.000004>',
    );
  });

  test('exit_group never returns: "?" and no duration', () => {
    const ev = event('exit_group', [0n], 0n);
    assert.equal(formatReturn(ev), '?');
    assert.equal(formatCall(ev), '[pid  1234] exit_group(0) = ?');
    assert.equal(formatCall(event('exit', [1n], 12345n), noPid), 'exit(1) = ?');
  });

  test('an unknown syscall number prints six hex registers', () => {
    const ev = event(1000, [1n, 2n, 3n, 0xdeadbeefn, 0n, 6n], 0n);
    assert.equal(
      formatCall(ev, noPid),
      'syscall_1000(0x1, 0x2, 0x3, 0xdeadbeef, 0, 0x6) = 0 <0.000004>',
    );
    assert.deepEqual(
      decodeArgs(ev).map((a) => a.name),
      ['arg0', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5'],
    );
  });

  test('clone: flag names with the exit signal in the low byte', () => {
    const flags = 0x00200000n | 0x01000000n | 17n;
    const ev = event('clone', [flags, 0n, 0n, 0x7f3a1c0a5a10n, 0n], 4321n, {
      duration_ns: 85_000,
    });
    assert.equal(
      formatCall(ev, noPid),
      'clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x7f3a1c0a5a10, NULL) = 4321 <0.000085>',
    );
  });

  test('futex: private wait that the waker beats, and a private wake', () => {
    const wait = event('futex', [0x55d0c4a3e2c8n, 128n, 2n, 0n], -11n, { duration_ns: 1_000 });
    assert.equal(
      formatCall(wait, noPid),
      'futex(0x55d0c4a3e2c8, FUTEX_WAIT_PRIVATE, 2, NULL) = -1 EAGAIN (Try again) <0.000001>',
    );
    const wake = event('futex', [0x55d0c4a3e2c8n, 129n, 1n, 0n, 0n, 0n], 1n);
    assert.equal(
      formatCall(wake, noPid),
      'futex(0x55d0c4a3e2c8, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000004>',
    );
    const bitset = event(
      'futex',
      [0x55d0c4a3e2c8n, 9n | 128n | 256n, 0n, STACK_PTR, 0n, 0xffffffffn],
      0n,
    );
    assert.equal(
      formatCall(bitset, noPid),
      'futex(0x55d0c4a3e2c8, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, 0x7ffc1d2e3f40, NULL, FUTEX_BITSET_MATCH_ANY) = 0 <0.000004>',
    );
  });

  test('kill with SIGKILL; tgkill; real-time signals', () => {
    assert.equal(
      formatCall(event('kill', [4321n, 9n], 0n), noPid),
      'kill(4321, SIGKILL) = 0 <0.000004>',
    );
    assert.equal(
      formatCall(event('tgkill', [4321n, 4322n, 15n], -3n), noPid),
      'tgkill(4321, 4322, SIGTERM) = -1 ESRCH (No such process) <0.000004>',
    );
    assert.equal(
      formatCall(event('kill', [0xffffffffn, 34n], 0n), noPid),
      'kill(-1, SIGRTMIN+2) = 0 <0.000004>',
    );
  });

  test('open for writing with O_CREAT|O_TRUNC prints the mode in octal', () => {
    const ev = event('open', [STACK_PTR, 0o1101n, 0o644n], 3n, { path: '/tmp/out.txt' });
    assert.equal(
      formatCall(ev, noPid),
      'open("/tmp/out.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3 <0.000004>',
    );
    // Without O_CREAT or O_TMPFILE the mode register is garbage and is left out.
    const noCreate = event('open', [STACK_PTR, 0o2n, 0x7ffc0000n], 3n, { path: '/tmp/out.txt' });
    assert.equal(formatCall(noCreate, noPid), 'open("/tmp/out.txt", O_RDWR) = 3 <0.000004>');
  });

  test('O_TMPFILE and O_SYNC consume the bits they share; unknown bits are hex', () => {
    const tmp = event('openat', [0xffffff9cn, STACK_PTR, 0o20200002n, 0o600n], 4n, {
      path: '/tmp',
    });
    assert.equal(
      formatCall(tmp, noPid),
      'openat(AT_FDCWD, "/tmp", O_RDWR|O_TMPFILE, 0600) = 4 <0.000004>',
    );
    const sync = event('openat', [0xffffff9cn, STACK_PTR, 0o4010001n | 0o40000000000n], 4n, {
      path: 'log',
    });
    assert.equal(
      formatCall(sync, noPid),
      'openat(AT_FDCWD, "log", O_WRONLY|O_SYNC) = 4 <0.000004>',
      'bits above 32 are not the caller’s: open flags are a C int',
    );
    const dsync = event('openat', [0xffffff9cn, STACK_PTR, 0o10001n | 0x40000000n], 4n, {
      path: 'log',
    });
    assert.equal(
      formatCall(dsync, noPid),
      'openat(AT_FDCWD, "log", O_WRONLY|O_DSYNC|0x40000000) = 4 <0.000004>',
    );
  });

  test('a path cut by the kernel side ends in "..."', () => {
    const ev = event('openat', [0xffffff9cn, STACK_PTR, 0n], -36n, {
      path: '/very/long/prefix',
      path_truncated: true,
    });
    assert.equal(
      formatCall(ev, noPid),
      'openat(AT_FDCWD, "/very/long/prefix"..., O_RDONLY) = -1 ENAMETOOLONG (File name too long) <0.000004>',
    );
  });

  test('an unread path prints as its pointer; control characters are escaped', () => {
    const unread = event('stat', [STACK_PTR, 0x7ffc1d2e3000n], -14n);
    assert.equal(
      formatCall(unread, noPid),
      'stat(0x7ffc1d2e3f40, 0x7ffc1d2e3000) = -1 EFAULT (Bad address) <0.000004>',
    );
    const odd = event('unlink', [STACK_PTR], 0n, { path: 'a\nb"c\\d\u001b[31m\u009b' });
    assert.equal(
      formatCall(odd, noPid),
      'unlink("a\\nb\\"c\\\\d\\u001b[31m\\u009b") = 0 <0.000004>',
    );
    assert.equal(quotePath('x', false), '"x"');
  });

  test('the [pid N] prefix is the thread id, padded to five places like strace -f', () => {
    const thread = event('getpid', [], 1234n, { tid: 1240 });
    assert.equal(formatCall(thread), '[pid  1240] getpid() = 1234 <0.000004>');
    const wide = event('gettid', [], 4194303n, { pid: 4194303, tid: 4194303 });
    assert.equal(formatCall(wide), '[pid 4194303] gettid() = 4194303 <0.000004>');
  });

  test('execve: the path, then placeholders for argv and envp', () => {
    const ev = event('execve', [STACK_PTR, 0x7ffc1d2e4000n, 0x7ffc1d2e4100n], 0n, {
      path: '/usr/bin/ls',
      duration_ns: 312_499,
    });
    assert.equal(formatCall(ev, noPid), 'execve("/usr/bin/ls", [...], [...]) = 0 <0.000312>');
  });

  test('sockets, descriptors, waits', () => {
    const cases: Array<[SyscallEvent, string]> = [
      [
        event('socket', [2n, 1n | 0o2000000n, 6n], 5n),
        'socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 5',
      ],
      [
        event('socket', [16n, 3n | 0o4000n, 0n], 5n),
        'socket(AF_NETLINK, SOCK_RAW|SOCK_NONBLOCK, NETLINK_ROUTE) = 5',
      ],
      [
        event('connect', [5n, STACK_PTR, 16n], -111n),
        'connect(5, 0x7ffc1d2e3f40, 16) = -1 ECONNREFUSED (Connection refused)',
      ],
      [
        event('sendto', [5n, STACK_PTR, 64n, 0x4000n, 0n, 0n], 64n),
        'sendto(5, <64 bytes>, 64, MSG_NOSIGNAL, NULL, 0) = 64',
      ],
      [
        event('recvfrom', [5n, STACK_PTR, 1500n, 0x40n, 0n, 0n], -11n),
        'recvfrom(5, <1500 bytes>, 1500, MSG_DONTWAIT, NULL, NULL) = -1 EAGAIN (Try again)',
      ],
      [
        event('accept4', [5n, 0n, 0n, 0o2004000n], 6n),
        'accept4(5, NULL, NULL, SOCK_NONBLOCK|SOCK_CLOEXEC) = 6',
      ],
      [event('lseek', [3n, 0xfffffffffffffff6n, 2n], 90n), 'lseek(3, -10, SEEK_END) = 90'],
      [event('dup3', [3n, 1n, 0o2000000n], 1n), 'dup3(3, 1, O_CLOEXEC) = 1'],
      [
        event('pipe2', [STACK_PTR, 0o2004000n], 0n),
        'pipe2(0x7ffc1d2e3f40, O_NONBLOCK|O_CLOEXEC) = 0',
      ],
      [event('fcntl', [3n, 1n, 0n], 1n), 'fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)'],
      [event('fcntl', [3n, 3n], 0x8002n), 'fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)'],
      [event('fcntl', [3n, 4n, 0o4002n], 0n), 'fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0'],
      [event('fcntl', [3n, 1030n, 10n], 10n), 'fcntl(3, F_DUPFD_CLOEXEC, 10) = 10'],
      [
        event('wait4', [0xffffffffn, STACK_PTR, 1n, 0n], 0n),
        'wait4(-1, 0x7ffc1d2e3f40, WNOHANG, NULL) = 0',
      ],
      [
        event('unlinkat', [0xffffff9cn, STACK_PTR, 0x200n], 0n, { path: 'dir' }),
        'unlinkat(AT_FDCWD, "dir", AT_REMOVEDIR) = 0',
      ],
      [
        event('newfstatat', [3n, STACK_PTR, 0x7ffc1d2e3000n, 0x1000n], 0n, { path: '' }),
        'newfstatat(3, "", 0x7ffc1d2e3000, AT_EMPTY_PATH) = 0',
      ],
      [
        event('access', [STACK_PTR, 6n], -13n, { path: '/etc/shadow' }),
        'access("/etc/shadow", R_OK|W_OK) = -1 EACCES (Permission denied)',
      ],
      [event('access', [STACK_PTR, 0n], 0n, { path: '/' }), 'access("/", F_OK) = 0'],
      [
        event('rename', [STACK_PTR, 0x7ffc1d2e3000n], 0n, { path: 'a' }),
        'rename("a", 0x7ffc1d2e3000) = 0',
      ],
      [
        event('clock_nanosleep', [1n, 0n, STACK_PTR, 0n], 0n),
        'clock_nanosleep(CLOCK_MONOTONIC, 0, 0x7ffc1d2e3f40, NULL) = 0',
      ],
      [
        event('epoll_wait', [4n, STACK_PTR, 128n, 0xffffffffn], -4n),
        'epoll_wait(4, 0x7ffc1d2e3f40, 128, -1) = -1 EINTR (Interrupted system call)',
      ],
      [
        event('getrandom', [STACK_PTR, 16n, 1n], 16n),
        'getrandom(<16 bytes>, 16, GRND_NONBLOCK) = 16',
      ],
      [event('clone3', [STACK_PTR, 88n], 4322n), 'clone3(0x7ffc1d2e3f40, 88) = 4322'],
      [event('ioctl', [1n, 0x5401n, STACK_PTR], 0n), 'ioctl(1, 0x5401, 0x7ffc1d2e3f40) = 0'],
    ];
    for (const [ev, line] of cases) assert.equal(formatCall(ev, noPid), `${line} <0.000004>`);
  });

  test('duration rounds to the microsecond', () => {
    const ev = (ns: number) => event('getppid', [], 1n, { duration_ns: ns });
    assert.equal(formatCall(ev(0), noPid), 'getppid() = 1 <0.000000>');
    assert.equal(formatCall(ev(1_499), noPid), 'getppid() = 1 <0.000001>');
    assert.equal(formatCall(ev(2_999_999_600), noPid), 'getppid() = 1 <3.000000>');
  });
});

describe('formatReturn', () => {
  test('a kernel restart code reads "?" with its name: the task never saw it', () => {
    const ev = event('read', [0n, STACK_PTR, 1n], -512n);
    assert.equal(
      formatReturn(ev),
      '? ERESTARTSYS (interrupted by a signal; restarted if the handler has SA_RESTART)',
    );
  });

  test('an errno without a description keeps its number', () => {
    assert.equal(formatReturn(event('read', [], -4000n)), '-1 E4000');
  });

  test('negative values outside -4095..-1 are results, not errors', () => {
    assert.equal(formatReturn(event('lseek', [], -4096n)), '-4096');
  });
});

describe('decodeArgs', () => {
  test('openat: named, structured values for JSON rows', () => {
    const ev = event('openat', [0xffffffffffffff9cn, STACK_PTR, 0o2101n, 0o640n], 3n, {
      path: '/var/log/app.log',
    });
    assert.deepEqual(decodeArgs(ev), [
      { name: 'dirfd', value: 'AT_FDCWD' },
      { name: 'pathname', value: '/var/log/app.log' },
      { name: 'flags', value: 'O_WRONLY|O_CREAT|O_APPEND' },
      { name: 'mode', value: '0640' },
    ]);
  });

  test('sizes and fds are numbers; an unread path is its pointer', () => {
    assert.deepEqual(decodeArgs(event('pread64', [7n, STACK_PTR, 512n, 4096n], 512n)), [
      { name: 'fd', value: 7 },
      { name: 'buf', value: '<512 bytes>' },
      { name: 'count', value: 512 },
      { name: 'offset', value: 4096 },
    ]);
    assert.deepEqual(decodeArgs(event('chdir', [STACK_PTR], 0n)), [
      { name: 'path', value: '0x7ffc1d2e3f40' },
    ]);
    assert.deepEqual(decodeArgs(event('getpid', [], 1n)), []);
  });
});

describe('flagsToString', () => {
  const table = [
    [0x3, 'BOTH'],
    [0x1, 'ONE'],
    [0x4, 'FOUR'],
  ] as const;
  test('multi-bit entries first, unknown bits in hex, zero by name', () => {
    assert.equal(flagsToString(0x7n, table), 'BOTH|FOUR');
    assert.equal(flagsToString(0x1, table), 'ONE');
    assert.equal(flagsToString(0x18n, table), '0x18');
    assert.equal(flagsToString(0x15n, table), 'ONE|FOUR|0x10');
    assert.equal(flagsToString(0n, table, 'NONE'), 'NONE');
    assert.equal(flagsToString(0n, table), '0');
  });
});

describe('pathArgumentIndex', () => {
  test('the calls the brief names', () => {
    assert.equal(pathArgumentIndex(257), 1, 'openat');
    assert.equal(pathArgumentIndex(nr('execve')), 0);
    assert.equal(pathArgumentIndex(nr('unlinkat')), 1);
    assert.equal(pathArgumentIndex(nr('getpid')), -1);
    assert.equal(pathArgumentIndex(1000), -1, 'unknown number');
  });

  test('the whole mapping the BPF side reads from', () => {
    const expected: Record<string, number> = {
      open: 0,
      openat: 1,
      creat: 0,
      stat: 0,
      lstat: 0,
      newfstatat: 1,
      statx: 1,
      access: 0,
      faccessat: 1,
      faccessat2: 1,
      execve: 0,
      execveat: 1,
      unlink: 0,
      unlinkat: 1,
      mkdir: 0,
      mkdirat: 1,
      rmdir: 0,
      chdir: 0,
      readlink: 0,
      readlinkat: 1,
      truncate: 0,
      chmod: 0,
      fchmodat: 1,
      chown: 0,
      lchown: 0,
      fchownat: 1,
      rename: 0,
      renameat: 1,
      renameat2: 1,
      link: 0,
      linkat: 1,
      symlink: 1,
      symlinkat: 2,
      utimensat: 1,
      inotify_add_watch: 1,
      statfs: 0,
    };
    const actual: Record<string, number> = {};
    for (let n = 0; n < 1024; n++) {
      const index = pathArgumentIndex(n);
      if (index >= 0) actual[syscallName(n)] = index;
    }
    assert.deepEqual(actual, expected);
  });
});
