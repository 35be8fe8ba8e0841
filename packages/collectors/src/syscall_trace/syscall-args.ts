// SPDX-License-Identifier: Apache-2.0
/**
 * syscall_trace: the raw registers of one syscall turned into named, decoded
 * arguments (for JSON rows) and a return value in strace's words.
 *
 * Pure functions of a SyscallEvent; nothing here touches the kernel. The
 * numeric constants are the x86_64 UAPI values (the header each table comes
 * from is named above it). One table, SIGNATURES, describes every decoded
 * syscall; pathArgumentIndex() is derived from it, so the user path the kernel
 * side reads and the argument printed as that path cannot disagree.
 */
import {
  errnoDescription,
  errnoName,
  signalName as commonSignalName,
  syscallName,
} from '@fleettrace/common';
import { UAPI } from './uapi-constants.gen';

/** One syscall as the collector hands it over (entry and exit already joined). */
export interface SyscallEvent {
  ts_ns: bigint; // UTC Unix ns of the syscall's entry
  pid: number; // thread-group id
  tid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  nr: number; // x86_64 syscall number
  args: bigint[]; // the 6 raw argument registers, unsigned 64-bit
  ret: bigint; // raw return value as signed 64-bit (-4095..-1 are -errno)
  duration_ns: number;
  /** user string read by the kernel side for path-taking syscalls (see pathArgumentIndex), undefined when none or unreadable */
  path?: string;
  /** true when the path was cut at the kernel side's limit */
  path_truncated?: boolean;
}

/**
 * One decoded argument. Entry i of decodeArgs() always describes register i;
 * a list may stop early when the remaining registers are unused (openat's mode
 * without O_CREAT, FUTEX_WAKE's timeout). Numbers are decimal values (fds,
 * sizes, counts); strings are symbolic names, hex pointers ("NULL" for 0), octal
 * modes, "<N bytes>" buffers, or the path itself at pathArgumentIndex().
 */
export interface DecodedArg {
  name: string;
  value: string | number;
}

/** [bits, name] pairs tried in order; a multi-bit entry must precede its parts. */
export type FlagTable = ReadonlyArray<readonly [number, string]>;
type EnumTable = Readonly<Record<number, string>>;
type UapiName = keyof typeof UAPI;

/** A flag table entry named by its UAPI macro, valued from the generated table. */
const flag = (name: UapiName): readonly [number, string] => [Number(UAPI[name]), name];

/** An enum table of UAPI macros, valued from the generated table. */
function enumTable(...names: UapiName[]): EnumTable {
  return Object.fromEntries(names.map((n) => [Number(UAPI[n]), n]));
}

/**
 * "A|B|0x40": the names of the table entries whose bits are all set, in table
 * order, then any bits no entry claimed as hex. `zero` is what 0 reads as.
 */
export function flagsToString(value: bigint | number, table: FlagTable, zero = '0'): string {
  let rest = BigInt.asUintN(64, BigInt(value));
  if (rest === 0n) return zero;
  const names: string[] = [];
  for (const [bits, name] of table) {
    const b = BigInt(bits);
    if (b !== 0n && (rest & b) === b) {
      names.push(name);
      rest &= ~b;
    }
  }
  if (rest !== 0n) names.push(hex(rest));
  return names.join('|');
}

// ---- number renderings -------------------------------------------------

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const pointer = (v: bigint): string => (v === 0n ? 'NULL' : hex(v));
/** C's %#lx: 0 without a prefix. */
const hexOrZero = (v: bigint): string => (v === 0n ? '0' : hex(v));
const int32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
/** Decimal; a string only past 2^53, where a JS number would round. */
const decimal = (v: bigint): number | string =>
  v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
const unsigned = (v: bigint): number | string => decimal(BigInt.asUintN(64, v));
const signed64 = (v: bigint): number | string => decimal(BigInt.asIntN(64, v));
/** File modes as C writes them: 0644, 04755, 000. */
const octal = (v: bigint): string => `0${v.toString(8).padStart(3, '0')}`;

// ---- tables (x86_64 values) -------------------------------------------

// asm-generic/fcntl.h. O_SYNC is __O_SYNC|O_DSYNC and O_TMPFILE is
// __O_TMPFILE|O_DIRECTORY, so each comes before the bit it shares.
const O_CREAT = UAPI.O_CREAT;
const O_TMPFILE_BIT = UAPI.__O_TMPFILE;
const O_ACCESS_MODES: EnumTable = enumTable('O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE');
const OPEN_FLAGS: FlagTable = [
  flag('O_CREAT'),
  flag('O_EXCL'),
  flag('O_NOCTTY'),
  flag('O_TRUNC'),
  flag('O_APPEND'),
  flag('O_NONBLOCK'),
  flag('O_SYNC'),
  flag('O_DSYNC'),
  flag('FASYNC'),
  flag('O_DIRECT'),
  flag('O_LARGEFILE'),
  flag('O_TMPFILE'),
  flag('O_DIRECTORY'),
  flag('O_NOFOLLOW'),
  flag('O_NOATIME'),
  flag('O_CLOEXEC'),
  flag('O_PATH'),
];
const O_CLOEXEC_ONLY: FlagTable = [flag('O_CLOEXEC')];
const PIPE_FLAGS: FlagTable = [flag('O_NONBLOCK'), flag('O_DIRECT'), flag('O_CLOEXEC')];
const FD_FLAGS: FlagTable = [flag('FD_CLOEXEC')];

// linux/fcntl.h: *at() flags; which bits mean what depends on the call
// (0x200 is AT_REMOVEDIR for unlinkat, AT_EACCESS for faccessat2).
const AT_FDCWD = UAPI.AT_FDCWD;
const AT_STAT_FLAGS: FlagTable = [
  flag('AT_SYMLINK_NOFOLLOW'),
  flag('AT_NO_AUTOMOUNT'),
  flag('AT_EMPTY_PATH'),
];
const AT_STATX_FLAGS: FlagTable = [
  ...AT_STAT_FLAGS,
  flag('AT_STATX_FORCE_SYNC'),
  flag('AT_STATX_DONT_SYNC'),
];
const AT_UNLINK_FLAGS: FlagTable = [flag('AT_REMOVEDIR')];
const AT_ACCESS_FLAGS: FlagTable = [
  flag('AT_SYMLINK_NOFOLLOW'),
  flag('AT_EACCESS'),
  flag('AT_EMPTY_PATH'),
];
const AT_LINK_FLAGS: FlagTable = [flag('AT_SYMLINK_FOLLOW'), flag('AT_EMPTY_PATH')];
// linux/fs.h
const RENAME_FLAGS: FlagTable = [
  flag('RENAME_NOREPLACE'),
  flag('RENAME_EXCHANGE'),
  flag('RENAME_WHITEOUT'),
];
// unistd.h; F_OK is the absence of the others.
const ACCESS_MODES: FlagTable = [flag('R_OK'), flag('W_OK'), flag('X_OK')];
// linux/fs.h
const SEEK_WHENCE: EnumTable = enumTable(
  'SEEK_SET',
  'SEEK_CUR',
  'SEEK_END',
  'SEEK_DATA',
  'SEEK_HOLE',
);

// asm-generic/fcntl.h and linux/fcntl.h (F_LINUX_SPECIFIC_BASE is 1024).
const F_DUPFD = UAPI.F_DUPFD;
const F_GETFD = UAPI.F_GETFD;
const F_SETFD = UAPI.F_SETFD;
const F_GETFL = UAPI.F_GETFL;
const F_SETFL = UAPI.F_SETFL;
const F_SETOWN = UAPI.F_SETOWN;
const F_SETSIG = UAPI.F_SETSIG;
const F_SETLEASE = UAPI.F_SETLEASE;
const F_NOTIFY = UAPI.F_NOTIFY;
const F_DUPFD_CLOEXEC = UAPI.F_DUPFD_CLOEXEC;
const F_SETPIPE_SZ = UAPI.F_SETPIPE_SZ;
const F_ADD_SEALS = UAPI.F_ADD_SEALS;
const FCNTL_COMMANDS: EnumTable = enumTable(
  'F_DUPFD',
  'F_GETFD',
  'F_SETFD',
  'F_GETFL',
  'F_SETFL',
  'F_GETLK',
  'F_SETLK',
  'F_SETLKW',
  'F_SETOWN',
  'F_GETOWN',
  'F_SETSIG',
  'F_GETSIG',
  'F_SETOWN_EX',
  'F_GETOWN_EX',
  'F_GETOWNER_UIDS',
  'F_OFD_GETLK',
  'F_OFD_SETLK',
  'F_OFD_SETLKW',
  'F_SETLEASE',
  'F_GETLEASE',
  'F_NOTIFY',
  'F_CANCELLK',
  'F_DUPFD_CLOEXEC',
  'F_SETPIPE_SZ',
  'F_GETPIPE_SZ',
  'F_ADD_SEALS',
  'F_GET_SEALS',
  'F_GET_RW_HINT',
  'F_SET_RW_HINT',
  'F_GET_FILE_RW_HINT',
  'F_SET_FILE_RW_HINT',
);
/** fcntl commands that ignore the third register. */
const FCNTL_NO_ARG = new Set<number>(
  (
    [
      'F_GETFD',
      'F_GETFL',
      'F_GETOWN',
      'F_GETSIG',
      'F_GETLEASE',
      'F_GETPIPE_SZ',
      'F_GET_SEALS',
    ] as const
  ).map((n) => UAPI[n]),
);
const LEASE_TYPES: EnumTable = enumTable('F_RDLCK', 'F_WRLCK', 'F_UNLCK');
const SEALS: FlagTable = [
  flag('F_SEAL_SEAL'),
  flag('F_SEAL_SHRINK'),
  flag('F_SEAL_GROW'),
  flag('F_SEAL_WRITE'),
  flag('F_SEAL_FUTURE_WRITE'),
];

// asm-generic/mman-common.h, asm-generic/mman.h, asm/mman.h, linux/mman.h
const PROT_FLAGS: FlagTable = [
  flag('PROT_READ'),
  flag('PROT_WRITE'),
  flag('PROT_EXEC'),
  flag('PROT_SEM'),
  flag('PROT_GROWSDOWN'),
  flag('PROT_GROWSUP'),
];
const MAP_TYPE_MASK = BigInt(UAPI.MAP_TYPE);
const MAP_TYPES: EnumTable = enumTable('MAP_SHARED', 'MAP_PRIVATE', 'MAP_SHARED_VALIDATE');
const MAP_HUGETLB = BigInt(UAPI.MAP_HUGETLB);
// With MAP_HUGETLB, bits 26..31 hold log2 of the huge page size
// (asm-generic/hugetlb_encode.h); without it bit 26 is MAP_UNINITIALIZED.
const MAP_HUGE_SHIFT = BigInt(UAPI.MAP_HUGE_SHIFT);
const MAP_HUGE_MASK = BigInt(UAPI.MAP_HUGE_MASK);
const MAP_FLAGS: FlagTable = [
  flag('MAP_FIXED'),
  flag('MAP_ANONYMOUS'),
  flag('MAP_32BIT'),
  flag('MAP_GROWSDOWN'),
  flag('MAP_DENYWRITE'),
  flag('MAP_EXECUTABLE'),
  flag('MAP_LOCKED'),
  flag('MAP_NORESERVE'),
  flag('MAP_POPULATE'),
  flag('MAP_NONBLOCK'),
  flag('MAP_STACK'),
  flag('MAP_HUGETLB'),
  flag('MAP_SYNC'),
  flag('MAP_FIXED_NOREPLACE'),
  flag('MAP_UNINITIALIZED'),
];
const MREMAP_FLAGS: FlagTable = [
  flag('MREMAP_MAYMOVE'),
  flag('MREMAP_FIXED'),
  flag('MREMAP_DONTUNMAP'),
];

// asm-generic/signal-defs.h
const SIGPROCMASK_HOW: EnumTable = enumTable('SIG_BLOCK', 'SIG_UNBLOCK', 'SIG_SETMASK');

// linux/sched.h. The low byte (CSIGNAL) of clone()'s flags is the signal
// sent to the parent at the child's exit.
const CLONE_EXIT_SIGNAL_MASK = BigInt(UAPI.CSIGNAL);
const CLONE_FLAGS: FlagTable = [
  flag('CLONE_VM'),
  flag('CLONE_FS'),
  flag('CLONE_FILES'),
  flag('CLONE_SIGHAND'),
  flag('CLONE_PIDFD'),
  flag('CLONE_PTRACE'),
  flag('CLONE_VFORK'),
  flag('CLONE_PARENT'),
  flag('CLONE_THREAD'),
  flag('CLONE_NEWNS'),
  flag('CLONE_SYSVSEM'),
  flag('CLONE_SETTLS'),
  flag('CLONE_PARENT_SETTID'),
  flag('CLONE_CHILD_CLEARTID'),
  flag('CLONE_DETACHED'),
  flag('CLONE_UNTRACED'),
  flag('CLONE_CHILD_SETTID'),
  flag('CLONE_NEWCGROUP'),
  flag('CLONE_NEWUTS'),
  flag('CLONE_NEWIPC'),
  flag('CLONE_NEWUSER'),
  flag('CLONE_NEWPID'),
  flag('CLONE_NEWNET'),
  flag('CLONE_IO'),
];

// linux/wait.h
const WAIT_OPTIONS: FlagTable = [
  flag('WNOHANG'),
  flag('WUNTRACED'),
  flag('WEXITED'),
  flag('WCONTINUED'),
  flag('WNOWAIT'),
  flag('__WNOTHREAD'),
  flag('__WALL'),
  flag('__WCLONE'),
];

// linux/futex.h. The command is the op without its two modifier bits; the
// header names every command's private form FUTEX_<CMD>_PRIVATE.
const FUTEX_PRIVATE_FLAG = BigInt(UAPI.FUTEX_PRIVATE_FLAG);
const FUTEX_CLOCK_REALTIME = BigInt(UAPI.FUTEX_CLOCK_REALTIME);
const FUTEX_CMD_MASK = 0x7fn;
const FUTEX_WAIT = UAPI.FUTEX_WAIT;
const FUTEX_WAKE = UAPI.FUTEX_WAKE;
const FUTEX_FD = UAPI.FUTEX_FD;
const FUTEX_REQUEUE = UAPI.FUTEX_REQUEUE;
const FUTEX_WAKE_OP = UAPI.FUTEX_WAKE_OP;
const FUTEX_LOCK_PI = UAPI.FUTEX_LOCK_PI;
const FUTEX_UNLOCK_PI = UAPI.FUTEX_UNLOCK_PI;
const FUTEX_TRYLOCK_PI = UAPI.FUTEX_TRYLOCK_PI;
const FUTEX_WAIT_BITSET = UAPI.FUTEX_WAIT_BITSET;
const FUTEX_WAKE_BITSET = UAPI.FUTEX_WAKE_BITSET;
const FUTEX_WAIT_REQUEUE_PI = UAPI.FUTEX_WAIT_REQUEUE_PI;
const FUTEX_LOCK_PI2 = UAPI.FUTEX_LOCK_PI2; // Linux 5.14
const FUTEX_COMMANDS: EnumTable = enumTable(
  'FUTEX_WAIT',
  'FUTEX_WAKE',
  'FUTEX_FD',
  'FUTEX_REQUEUE',
  'FUTEX_CMP_REQUEUE',
  'FUTEX_WAKE_OP',
  'FUTEX_LOCK_PI',
  'FUTEX_UNLOCK_PI',
  'FUTEX_TRYLOCK_PI',
  'FUTEX_WAIT_BITSET',
  'FUTEX_WAKE_BITSET',
  'FUTEX_WAIT_REQUEUE_PI',
  'FUTEX_CMP_REQUEUE_PI',
  'FUTEX_LOCK_PI2',
);
/** Registers each futex command reads; the rest are not printed. */
const FUTEX_ARG_COUNT: Readonly<Record<number, number>> = {
  [FUTEX_WAIT]: 4,
  [FUTEX_WAKE]: 3,
  [FUTEX_FD]: 3,
  [FUTEX_REQUEUE]: 5,
  [FUTEX_LOCK_PI]: 4,
  [FUTEX_UNLOCK_PI]: 2,
  [FUTEX_TRYLOCK_PI]: 2,
  [FUTEX_WAIT_REQUEUE_PI]: 5,
  [FUTEX_LOCK_PI2]: 4,
};
/** Commands whose fourth register is a timeout pointer rather than a count. */
const FUTEX_TIMED = new Set<number>([
  FUTEX_WAIT,
  FUTEX_LOCK_PI,
  FUTEX_WAIT_BITSET,
  FUTEX_WAIT_REQUEUE_PI,
  FUTEX_LOCK_PI2,
]);
const FUTEX_BITSET_MATCH_ANY = BigInt(UAPI.FUTEX_BITSET_MATCH_ANY);

// linux/time.h
const CLOCKS: EnumTable = enumTable(
  'CLOCK_REALTIME',
  'CLOCK_MONOTONIC',
  'CLOCK_PROCESS_CPUTIME_ID',
  'CLOCK_THREAD_CPUTIME_ID',
  'CLOCK_MONOTONIC_RAW',
  'CLOCK_REALTIME_COARSE',
  'CLOCK_MONOTONIC_COARSE',
  'CLOCK_BOOTTIME',
  'CLOCK_REALTIME_ALARM',
  'CLOCK_BOOTTIME_ALARM',
  'CLOCK_TAI',
);
const TIMER_FLAGS: FlagTable = [flag('TIMER_ABSTIME')];

// bits/socket.h, bits/socket_type.h, linux/in.h, linux/in6.h, linux/netlink.h
const AF_INET = UAPI.AF_INET;
const AF_INET6 = UAPI.AF_INET6;
const AF_NETLINK = UAPI.AF_NETLINK;
const ADDRESS_FAMILIES: EnumTable = enumTable(
  'AF_UNSPEC',
  'AF_UNIX',
  'AF_INET',
  'AF_INET6',
  'AF_KEY',
  'AF_NETLINK',
  'AF_PACKET',
  'AF_CAN',
  'AF_BLUETOOTH',
  'AF_ALG',
  'AF_VSOCK',
  'AF_XDP',
);
const SOCK_TYPE_MASK = 0xfn;
const SOCKET_TYPES: EnumTable = enumTable(
  'SOCK_STREAM',
  'SOCK_DGRAM',
  'SOCK_RAW',
  'SOCK_RDM',
  'SOCK_SEQPACKET',
  'SOCK_DCCP',
  'SOCK_PACKET',
);
const SOCKET_FLAGS: FlagTable = [flag('SOCK_NONBLOCK'), flag('SOCK_CLOEXEC')];
const IP_PROTOCOLS: EnumTable = enumTable(
  'IPPROTO_IP',
  'IPPROTO_ICMP',
  'IPPROTO_IGMP',
  'IPPROTO_TCP',
  'IPPROTO_UDP',
  'IPPROTO_IPV6',
  'IPPROTO_GRE',
  'IPPROTO_ICMPV6',
  'IPPROTO_SCTP',
  'IPPROTO_UDPLITE',
  'IPPROTO_RAW',
  'IPPROTO_MPTCP',
);
const NETLINK_PROTOCOLS: EnumTable = enumTable(
  'NETLINK_ROUTE',
  'NETLINK_SOCK_DIAG',
  'NETLINK_AUDIT',
  'NETLINK_NETFILTER',
  'NETLINK_KOBJECT_UEVENT',
  'NETLINK_GENERIC',
);
const MSG_FLAGS: FlagTable = [
  flag('MSG_OOB'),
  flag('MSG_PEEK'),
  flag('MSG_DONTROUTE'),
  flag('MSG_CTRUNC'),
  flag('MSG_PROXY'),
  flag('MSG_TRUNC'),
  flag('MSG_DONTWAIT'),
  flag('MSG_EOR'),
  flag('MSG_WAITALL'),
  flag('MSG_FIN'),
  flag('MSG_SYN'),
  flag('MSG_CONFIRM'),
  flag('MSG_RST'),
  flag('MSG_ERRQUEUE'),
  flag('MSG_NOSIGNAL'),
  flag('MSG_MORE'),
  flag('MSG_WAITFORONE'),
  flag('MSG_BATCH'),
  flag('MSG_ZEROCOPY'),
  flag('MSG_FASTOPEN'),
  flag('MSG_CMSG_CLOEXEC'),
];

// linux/random.h, linux/eventpoll.h
const GETRANDOM_FLAGS: FlagTable = [
  flag('GRND_NONBLOCK'),
  flag('GRND_RANDOM'),
  flag('GRND_INSECURE'),
];
const EPOLL_CTL_OPS: EnumTable = enumTable('EPOLL_CTL_ADD', 'EPOLL_CTL_DEL', 'EPOLL_CTL_MOD');

/**
 * Kernel-internal restart codes (include/linux/errno.h, not UAPI). A task
 * never sees them: the kernel restarts the call or turns them into EINTR
 * before returning, but the raw sys_exit tracepoint does see them when a
 * signal interrupts a blocking call.
 */
const KERNEL_RESTART_ERRNOS: Readonly<Record<number, readonly [string, string]>> = {
  512: ['ERESTARTSYS', 'interrupted by a signal; restarted if the handler has SA_RESTART'],
  513: ['ERESTARTNOINTR', 'interrupted by a signal; always restarted'],
  514: ['ERESTARTNOHAND', 'interrupted by a signal; restarted if no handler ran'],
  516: ['ERESTART_RESTARTBLOCK', 'interrupted by a signal; restarted through restart_syscall'],
};
const MAX_ERRNO = 4095n;

// ---- argument decoders -------------------------------------------------

/** Renders register `raw`; `ev` gives access to the other registers. */
type Decoder = (raw: bigint, ev: SyscallEvent) => string | number;

const reg = (ev: SyscallEvent, i: number): bigint => BigInt.asUintN(64, ev.args[i] ?? 0n);

const fd: Decoder = (raw) => int32(raw);
const int: Decoder = (raw) => int32(raw);
const size: Decoder = (raw) => unsigned(raw);
const offset: Decoder = (raw) => signed64(raw);
const ptr: Decoder = (raw) => pointer(raw);
const hexValue: Decoder = (raw) => hex(raw);
const mode: Decoder = (raw) => octal(raw);
/** The *at() directory: AT_FDCWD is -100 as an int, whatever the upper 32 bits hold. */
const dirfd: Decoder = (raw) => (int32(raw) === AT_FDCWD ? 'AT_FDCWD' : int32(raw));
/**
 * The one user path the kernel side reads (ev.path); a pointer when it could
 * not. Its position in a signature is what pathArgumentIndex() reports.
 */
const readPath: Decoder = (raw, ev) => ev.path ?? pointer(raw);
/** argv/envp: the proc collector records those; only NULL is told apart. */
const stringArray: Decoder = (raw) => (raw === 0n ? 'NULL' : '[...]');
/** A data buffer whose length is register `sizeIndex`; the content is never captured. */
const bytes =
  (sizeIndex: number): Decoder =>
  (raw, ev) =>
    raw === 0n ? 'NULL' : `<${unsigned(reg(ev, sizeIndex))} bytes>`;
/** Flags passed as a C int: the upper half of the register is not the caller's. */
const flags32 =
  (table: FlagTable, zero = '0'): Decoder =>
  (raw) =>
    flagsToString(BigInt.asUintN(32, raw), table, zero);
const enumOf =
  (table: EnumTable): Decoder =>
  (raw) =>
    table[int32(raw)] ?? int32(raw);

/** The signal's name (generated from asm/signal.h), or its number when it has none, as strace prints it. */
function signalName(sig: number): string | number {
  const name = commonSignalName(sig);
  return /^SIG\d+$/.test(name) ? sig : name;
}
const signal: Decoder = (raw) => signalName(int32(raw));

export function openFlagsToString(raw: bigint): string {
  const value = BigInt.asUintN(32, raw);
  const access = O_ACCESS_MODES[Number(value & 3n)] ?? '';
  const rest = value & ~3n;
  return rest === 0n ? access : `${access}|${flagsToString(rest, OPEN_FLAGS)}`;
}
const openFlags: Decoder = (raw) => openFlagsToString(raw);
/** open(2): the mode register means something only when a file may be created. */
const createsFile = (flagsRegister: bigint): boolean =>
  (flagsRegister & BigInt(O_CREAT | O_TMPFILE_BIT)) !== 0n;

const accessMode: Decoder = (raw) => flagsToString(BigInt.asUintN(32, raw), ACCESS_MODES, 'F_OK');

const mmapFlags: Decoder = (raw) => {
  let value = BigInt.asUintN(32, raw);
  const names: string[] = [];
  const type = value & MAP_TYPE_MASK;
  if (type !== 0n) names.push(MAP_TYPES[Number(type)] ?? hex(type));
  value &= ~MAP_TYPE_MASK;
  const hugeLog2 = (value >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
  let huge = '';
  if ((value & MAP_HUGETLB) !== 0n && hugeLog2 !== 0n) {
    huge = `MAP_HUGE_${binarySize(Number(hugeLog2))}`;
    value &= ~(MAP_HUGE_MASK << MAP_HUGE_SHIFT);
  }
  if (value !== 0n) names.push(flagsToString(value, MAP_FLAGS));
  if (huge) names.push(huge);
  return names.length > 0 ? names.join('|') : '0';
};
/** 21 -> "2MB", as the MAP_HUGE_* names spell page sizes. */
function binarySize(log2: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const unit = Math.min(Math.floor(log2 / 10), units.length - 1);
  return `${2 ** (log2 - unit * 10)}${units[unit]}`;
}

const cloneFlags: Decoder = (raw) => {
  const exitSignal = Number(raw & CLONE_EXIT_SIGNAL_MASK);
  const rest = raw & ~CLONE_EXIT_SIGNAL_MASK;
  const names: string[] = [];
  if (rest !== 0n) names.push(flagsToString(rest, CLONE_FLAGS));
  if (exitSignal !== 0) names.push(String(signalName(exitSignal)));
  return names.length > 0 ? names.join('|') : '0';
};

const futexCommand = (ev: SyscallEvent): number => Number(reg(ev, 1) & FUTEX_CMD_MASK);
const futexOp: Decoder = (raw) => {
  const op = BigInt.asUintN(32, raw);
  const cmd = Number(op & FUTEX_CMD_MASK);
  const isPrivate = (op & FUTEX_PRIVATE_FLAG) !== 0n;
  const known = FUTEX_COMMANDS[cmd];
  const parts = [
    known ? `${known}${isPrivate ? '_PRIVATE' : ''}` : String(cmd),
    ...(!known && isPrivate ? ['FUTEX_PRIVATE_FLAG'] : []),
    ...((op & FUTEX_CLOCK_REALTIME) !== 0n ? ['FUTEX_CLOCK_REALTIME'] : []),
  ];
  const unknownBits = op & ~(FUTEX_CMD_MASK | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
  if (unknownBits !== 0n) parts.push(hex(unknownBits));
  return parts.join('|');
};
/** Fourth futex register: a timeout pointer for the waits, a count (val2) otherwise. */
const futexTimeoutOrVal2: Decoder = (raw, ev) =>
  FUTEX_TIMED.has(futexCommand(ev)) ? pointer(raw) : int32(raw);
/** Sixth futex register: a bitset, an encoded operation (WAKE_OP) or a compared value. */
const futexVal3: Decoder = (raw, ev) => {
  const cmd = futexCommand(ev);
  if (cmd === FUTEX_WAIT_BITSET || cmd === FUTEX_WAKE_BITSET) {
    const bitset = BigInt.asUintN(32, raw);
    return bitset === FUTEX_BITSET_MATCH_ANY ? 'FUTEX_BITSET_MATCH_ANY' : hex(bitset);
  }
  return cmd === FUTEX_WAKE_OP ? hex(BigInt.asUintN(32, raw)) : int32(raw);
};

const fcntlCommand = (ev: SyscallEvent): number => int32(reg(ev, 1));
const fcntlArg: Decoder = (raw, ev) => {
  switch (fcntlCommand(ev)) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
    case F_SETOWN:
    case F_SETPIPE_SZ:
      return int32(raw);
    case F_SETFD:
      return flagsToString(BigInt.asUintN(32, raw), FD_FLAGS);
    case F_SETFL:
      return openFlagsToString(raw);
    case F_SETSIG:
      return signalName(int32(raw));
    case F_SETLEASE:
      return LEASE_TYPES[int32(raw)] ?? int32(raw);
    case F_ADD_SEALS:
      return flagsToString(BigInt.asUintN(32, raw), SEALS);
    case F_NOTIFY:
      return hex(BigInt.asUintN(32, raw));
    default:
      // The lock, owner and hint commands take a pointer to a struct.
      return pointer(raw);
  }
};

const socketType: Decoder = (raw) => {
  const value = BigInt.asUintN(32, raw);
  const base = value & SOCK_TYPE_MASK;
  const rest = value & ~SOCK_TYPE_MASK;
  const type = SOCKET_TYPES[Number(base)] ?? String(base);
  return rest === 0n ? type : `${type}|${flagsToString(rest, SOCKET_FLAGS)}`;
};
const socketProtocol: Decoder = (raw, ev) => {
  const domain = int32(reg(ev, 0));
  const protocol = int32(raw);
  if (domain === AF_INET || domain === AF_INET6) return IP_PROTOCOLS[protocol] ?? protocol;
  if (domain === AF_NETLINK) return NETLINK_PROTOCOLS[protocol] ?? protocol;
  return protocol;
};

// ---- signatures ---------------------------------------------------------

interface Signature {
  /** [argument name, decoder] per register, in register order (man-page names). */
  args: ReadonlyArray<readonly [string, Decoder]>;
  /** How many registers this call actually uses, when that depends on another argument. */
  used?: (ev: SyscallEvent) => number;
}

const sig = (...args: Array<readonly [string, Decoder]>): Signature => ({ args });
const sigUsing = (
  used: (ev: SyscallEvent) => number,
  ...args: Array<readonly [string, Decoder]>
): Signature => ({ args, used });

const NO_ARGS = sig();

/**
 * Every syscall decoded by name, x86_64 register order (the kernel's
 * SYSCALL_DEFINEn). A name absent here is printed as six hex registers.
 */
const SIGNATURES: ReadonlyMap<string, Signature> = new Map(
  Object.entries({
    // files and descriptors
    read: sig(['fd', fd], ['buf', bytes(2)], ['count', size]),
    write: sig(['fd', fd], ['buf', bytes(2)], ['count', size]),
    pread64: sig(['fd', fd], ['buf', bytes(2)], ['count', size], ['offset', offset]),
    pwrite64: sig(['fd', fd], ['buf', bytes(2)], ['count', size], ['offset', offset]),
    readv: sig(['fd', fd], ['iov', ptr], ['iovcnt', int]),
    writev: sig(['fd', fd], ['iov', ptr], ['iovcnt', int]),
    open: sigUsing(
      (ev) => (createsFile(reg(ev, 1)) ? 3 : 2),
      ['pathname', readPath],
      ['flags', openFlags],
      ['mode', mode],
    ),
    openat: sigUsing(
      (ev) => (createsFile(reg(ev, 2)) ? 4 : 3),
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['flags', openFlags],
      ['mode', mode],
    ),
    creat: sig(['pathname', readPath], ['mode', mode]),
    close: sig(['fd', fd]),
    dup: sig(['oldfd', fd]),
    dup2: sig(['oldfd', fd], ['newfd', fd]),
    dup3: sig(['oldfd', fd], ['newfd', fd], ['flags', flags32(O_CLOEXEC_ONLY)]),
    lseek: sig(['fd', fd], ['offset', offset], ['whence', enumOf(SEEK_WHENCE)]),
    fcntl: sigUsing(
      (ev) => (FCNTL_NO_ARG.has(fcntlCommand(ev)) ? 2 : 3),
      ['fd', fd],
      ['cmd', enumOf(FCNTL_COMMANDS)],
      ['arg', fcntlArg],
    ),
    ioctl: sig(['fd', fd], ['request', hexValue], ['arg', hexValue]),
    pipe: sig(['pipefd', ptr]),
    pipe2: sig(['pipefd', ptr], ['flags', flags32(PIPE_FLAGS)]),
    getdents64: sig(['fd', fd], ['dirp', ptr], ['count', size]),
    fsync: sig(['fd', fd]),
    fdatasync: sig(['fd', fd]),
    ftruncate: sig(['fd', fd], ['length', offset]),
    fchdir: sig(['fd', fd]),
    fchmod: sig(['fd', fd], ['mode', mode]),
    fchown: sig(['fd', fd], ['owner', int], ['group', int]),
    inotify_add_watch: sig(['fd', fd], ['pathname', readPath], ['mask', hexValue]),

    // metadata
    stat: sig(['pathname', readPath], ['statbuf', ptr]),
    lstat: sig(['pathname', readPath], ['statbuf', ptr]),
    fstat: sig(['fd', fd], ['statbuf', ptr]),
    newfstatat: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['statbuf', ptr],
      ['flags', flags32(AT_STAT_FLAGS)],
    ),
    statx: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['flags', flags32(AT_STATX_FLAGS)],
      ['mask', hexValue],
      ['statxbuf', ptr],
    ),
    statfs: sig(['path', readPath], ['buf', ptr]),
    access: sig(['pathname', readPath], ['mode', accessMode]),
    faccessat: sig(['dirfd', dirfd], ['pathname', readPath], ['mode', accessMode]),
    faccessat2: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['mode', accessMode],
      ['flags', flags32(AT_ACCESS_FLAGS)],
    ),
    readlink: sig(['pathname', readPath], ['buf', ptr], ['bufsiz', size]),
    readlinkat: sig(['dirfd', dirfd], ['pathname', readPath], ['buf', ptr], ['bufsiz', size]),
    chmod: sig(['pathname', readPath], ['mode', mode]),
    fchmodat: sig(['dirfd', dirfd], ['pathname', readPath], ['mode', mode]),
    chown: sig(['pathname', readPath], ['owner', int], ['group', int]),
    lchown: sig(['pathname', readPath], ['owner', int], ['group', int]),
    fchownat: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['owner', int],
      ['group', int],
      ['flags', flags32(AT_STAT_FLAGS)],
    ),
    utimensat: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['times', ptr],
      ['flags', flags32(AT_STAT_FLAGS)],
    ),
    truncate: sig(['path', readPath], ['length', offset]),

    // directory entries. Only one path per call is read: the second path of
    // rename and link, and symlink's target, stay pointers.
    unlink: sig(['pathname', readPath]),
    unlinkat: sig(['dirfd', dirfd], ['pathname', readPath], ['flags', flags32(AT_UNLINK_FLAGS)]),
    mkdir: sig(['pathname', readPath], ['mode', mode]),
    mkdirat: sig(['dirfd', dirfd], ['pathname', readPath], ['mode', mode]),
    rmdir: sig(['pathname', readPath]),
    chdir: sig(['path', readPath]),
    rename: sig(['oldpath', readPath], ['newpath', ptr]),
    renameat: sig(
      ['olddirfd', dirfd],
      ['oldpath', readPath],
      ['newdirfd', dirfd],
      ['newpath', ptr],
    ),
    renameat2: sig(
      ['olddirfd', dirfd],
      ['oldpath', readPath],
      ['newdirfd', dirfd],
      ['newpath', ptr],
      ['flags', flags32(RENAME_FLAGS)],
    ),
    link: sig(['oldpath', readPath], ['newpath', ptr]),
    linkat: sig(
      ['olddirfd', dirfd],
      ['oldpath', readPath],
      ['newdirfd', dirfd],
      ['newpath', ptr],
      ['flags', flags32(AT_LINK_FLAGS)],
    ),
    symlink: sig(['target', ptr], ['linkpath', readPath]),
    symlinkat: sig(['target', ptr], ['newdirfd', dirfd], ['linkpath', readPath]),

    // processes
    execve: sig(['pathname', readPath], ['argv', stringArray], ['envp', stringArray]),
    execveat: sig(
      ['dirfd', dirfd],
      ['pathname', readPath],
      ['argv', stringArray],
      ['envp', stringArray],
      ['flags', flags32(AT_STAT_FLAGS)],
    ),
    clone: sig(
      ['flags', cloneFlags],
      ['stack', ptr],
      ['parent_tid', ptr],
      ['child_tid', ptr],
      ['tls', ptr],
    ),
    clone3: sig(['cl_args', ptr], ['size', size]),
    wait4: sig(['pid', int], ['wstatus', ptr], ['options', flags32(WAIT_OPTIONS)], ['rusage', ptr]),
    exit: sig(['status', int]),
    exit_group: sig(['status', int]),
    kill: sig(['pid', int], ['sig', signal]),
    tkill: sig(['tid', int], ['sig', signal]),
    tgkill: sig(['tgid', int], ['tid', int], ['sig', signal]),
    rt_sigaction: sig(['signum', signal], ['act', ptr], ['oldact', ptr], ['sigsetsize', size]),
    rt_sigprocmask: sig(
      ['how', enumOf(SIGPROCMASK_HOW)],
      ['set', ptr],
      ['oldset', ptr],
      ['sigsetsize', size],
    ),
    getpid: NO_ARGS,
    getppid: NO_ARGS,
    gettid: NO_ARGS,
    getuid: NO_ARGS,
    geteuid: NO_ARGS,
    getgid: NO_ARGS,
    getegid: NO_ARGS,
    getpgrp: NO_ARGS,
    setsid: NO_ARGS,
    sched_yield: NO_ARGS,
    fork: NO_ARGS,
    vfork: NO_ARGS,
    pause: NO_ARGS,
    sync: NO_ARGS,

    // memory
    mmap: sig(
      ['addr', ptr],
      ['length', size],
      ['prot', flags32(PROT_FLAGS, 'PROT_NONE')],
      ['flags', mmapFlags],
      ['fd', fd],
      ['offset', offset],
    ),
    munmap: sig(['addr', ptr], ['length', size]),
    mprotect: sig(['addr', ptr], ['length', size], ['prot', flags32(PROT_FLAGS, 'PROT_NONE')]),
    mremap: sig(
      ['old_address', ptr],
      ['old_size', size],
      ['new_size', size],
      ['flags', flags32(MREMAP_FLAGS)],
      ['new_address', ptr],
    ),
    brk: sig(['addr', ptr]),

    // sockets
    socket: sig(
      ['domain', enumOf(ADDRESS_FAMILIES)],
      ['type', socketType],
      ['protocol', socketProtocol],
    ),
    connect: sig(['sockfd', fd], ['addr', ptr], ['addrlen', size]),
    bind: sig(['sockfd', fd], ['addr', ptr], ['addrlen', size]),
    listen: sig(['sockfd', fd], ['backlog', int]),
    accept: sig(['sockfd', fd], ['addr', ptr], ['addrlen', ptr]),
    accept4: sig(['sockfd', fd], ['addr', ptr], ['addrlen', ptr], ['flags', flags32(SOCKET_FLAGS)]),
    sendto: sig(
      ['sockfd', fd],
      ['buf', bytes(2)],
      ['len', size],
      ['flags', flags32(MSG_FLAGS)],
      ['dest_addr', ptr],
      ['addrlen', size],
    ),
    recvfrom: sig(
      ['sockfd', fd],
      ['buf', bytes(2)],
      ['len', size],
      ['flags', flags32(MSG_FLAGS)],
      ['src_addr', ptr],
      ['addrlen', ptr],
    ),
    sendmsg: sig(['sockfd', fd], ['msg', ptr], ['flags', flags32(MSG_FLAGS)]),
    recvmsg: sig(['sockfd', fd], ['msg', ptr], ['flags', flags32(MSG_FLAGS)]),

    // waiting
    nanosleep: sig(['req', ptr], ['rem', ptr]),
    clock_nanosleep: sig(
      ['clockid', enumOf(CLOCKS)],
      ['flags', flags32(TIMER_FLAGS)],
      ['request', ptr],
      ['remain', ptr],
    ),
    futex: sigUsing(
      (ev) => FUTEX_ARG_COUNT[futexCommand(ev)] ?? 6,
      ['uaddr', ptr],
      ['futex_op', futexOp],
      ['val', int],
      ['timeout', futexTimeoutOrVal2],
      ['uaddr2', ptr],
      ['val3', futexVal3],
    ),
    epoll_create1: sig(['flags', flags32(O_CLOEXEC_ONLY)]),
    epoll_ctl: sig(['epfd', fd], ['op', enumOf(EPOLL_CTL_OPS)], ['fd', fd], ['event', ptr]),
    epoll_wait: sig(['epfd', fd], ['events', ptr], ['maxevents', int], ['timeout', int]),
    epoll_pwait: sig(
      ['epfd', fd],
      ['events', ptr],
      ['maxevents', int],
      ['timeout', int],
      ['sigmask', ptr],
      ['sigsetsize', size],
    ),
    epoll_pwait2: sig(
      ['epfd', fd],
      ['events', ptr],
      ['maxevents', int],
      ['timeout', ptr],
      ['sigmask', ptr],
      ['sigsetsize', size],
    ),
    poll: sig(['fds', ptr], ['nfds', size], ['timeout', int]),
    ppoll: sig(
      ['fds', ptr],
      ['nfds', size],
      ['tmo_p', ptr],
      ['sigmask', ptr],
      ['sigsetsize', size],
    ),
    select: sig(
      ['nfds', int],
      ['readfds', ptr],
      ['writefds', ptr],
      ['exceptfds', ptr],
      ['timeout', ptr],
    ),
    pselect6: sig(
      ['nfds', int],
      ['readfds', ptr],
      ['writefds', ptr],
      ['exceptfds', ptr],
      ['timeout', ptr],
      ['sigmask', ptr],
    ),
    getrandom: sig(['buf', bytes(1)], ['buflen', size], ['flags', flags32(GETRANDOM_FLAGS)]),
  }),
);

/** Calls that do not come back: their return register holds nothing. */
const NEVER_RETURN = new Set(['exit', 'exit_group']);
/** Calls that return an address, printed in hex. */
const ADDRESS_RETURN = new Set(['mmap', 'mremap', 'brk', 'shmat']);

/** name -> register index of the path the kernel side reads, from SIGNATURES. */
const PATH_ARGUMENT: ReadonlyMap<string, number> = new Map(
  [...SIGNATURES]
    .map(([name, s]) => [name, s.args.findIndex(([, decode]) => decode === readPath)] as const)
    .filter(([, index]) => index >= 0),
);

// ---- exported API ------------------------------------------------------

/**
 * Which argument register (0-based) of syscall `nr` holds the user path the
 * kernel side reads into SyscallEvent.path, or -1 when it reads none. Calls
 * with two paths (rename, link, symlink) read one: for symlink the new link,
 * not its target. This is the TypeScript source of truth for the BPF side.
 */
export function pathArgumentIndex(nr: number): number {
  return PATH_ARGUMENT.get(syscallName(nr)) ?? -1;
}

/**
 * The named arguments of `ev`, entry i describing register i (see
 * DecodedArg). Syscalls without a signature give arg0..arg5 in hex.
 */
export function decodeArgs(ev: SyscallEvent): DecodedArg[] {
  const signature = SIGNATURES.get(syscallName(ev.nr));
  if (!signature) {
    return Array.from({ length: 6 }, (_, i) => {
      const raw = reg(ev, i);
      return { name: `arg${i}`, value: hexOrZero(raw) };
    });
  }
  const used = signature.used?.(ev) ?? signature.args.length;
  return signature.args
    .slice(0, used)
    .map(([name, decode], i) => ({ name, value: decode(reg(ev, i), ev) }));
}

/**
 * The return value as strace prints it after "= ": "3", "-1 ENOENT (No such
 * file or directory)", "0x7f0e8a2f1000" for address-returning calls, and
 * exactly "?" for calls that never return (exit, exit_group) and nothing else.
 * A kernel restart code reads "? ERESTARTSYS (...)": the task itself never
 * saw it. Descriptions are the comments of asm-generic/errno*.h, which
 * sometimes differ from glibc's strerror() wording that strace uses.
 */
export function formatReturn(ev: SyscallEvent): string {
  const name = syscallName(ev.nr);
  if (NEVER_RETURN.has(name)) return '?';
  const ret = BigInt.asIntN(64, ev.ret);
  if (ret < 0n && ret >= -MAX_ERRNO) {
    const err = Number(-ret);
    const restart = KERNEL_RESTART_ERRNOS[err];
    if (restart) return `? ${restart[0]} (${restart[1]})`;
    const description = errnoDescription(err);
    return `-1 ${errnoName(err)}${description ? ` (${description})` : ''}`;
  }
  if (ADDRESS_RETURN.has(name)) return hex(BigInt.asUintN(64, ret));
  if (name === 'fcntl') {
    const cmd = fcntlCommand(ev);
    // As strace does, the flags a successful F_GETFL or F_GETFD returns are named.
    if (cmd === F_GETFL) return `${hexOrZero(ret)} (flags ${openFlagsToString(ret)})`;
    if (cmd === F_GETFD && ret !== 0n) return `${hex(ret)} (flags ${flagsToString(ret, FD_FLAGS)})`;
  }
  return ret.toString();
}
