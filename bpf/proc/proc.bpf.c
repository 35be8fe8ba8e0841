// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proc: exec (with argv), process exit (code, signal, core dump, lifetime),
 * fork, signal generation (sender -> target) and OOM kills, as ring-buffer
 * events. Kernel notes (DESIGN.md): sched_process_exit carries no exit code, so
 * it is read from task->exit_code; oom:mark_victim runs in the allocating
 * task's context, so every victim field comes from its task argument.
 */
#include "ft_common.h"
#include "proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Emit SIGCHLD too (one per child exit: doubles the volume for little news). */
const volatile __u8 proc_include_sigchld = 0;

#define SIGCHLD 17

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} ft_proc_events SEC(".maps");

FT_LOST_MAP(ft_proc_lost);

/*
 * Slot 0 non-zero: the agent degraded the collector to keep a job within its
 * budget under process churn (a CGI or cron storm). Forks, clean exits
 * (status 0) and repeats of an exec (same user, file and arguments) within
 * PROC_REPEAT_NS of the one last reported are then counted in ft_proc_quieted
 * instead of reported; other execs, failed or killed exits, signals and OOM
 * kills still are.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ft_proc_quiet SEC(".maps");

FT_LOST_MAP(ft_proc_quieted);

#define PROC_REPEAT_NS 1000000000ULL

/* (uid, hash of filename and arguments) -> when such an exec was last reported, while degraded. */
struct proc_exec_key {
	__u32 uid;
	__u32 pad;
	__u64 hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct proc_exec_key);
	__type(value, __u64);
} ft_proc_exec_seen SEC(".maps");

static __always_inline bool proc_quiet(void)
{
	__u32 zero = 0;
	__u32 *quiet = bpf_map_lookup_elem(&ft_proc_quiet, &zero);

	return quiet && *quiet;
}

/* Whether the event is to be counted instead of reported; counts it when so. */
static __always_inline bool proc_count_quieted(void)
{
	if (!proc_quiet())
		return false;
	FT_COUNT_LOST(ft_proc_quieted);
	return true;
}

/* FNV-1a style mix of the first `len` bytes of `p` (8-byte aligned), a word at a time. */
static __always_inline __u64 proc_hash(const __u64 *p, __u32 len, __u32 max_words, __u64 h)
{
	for (__u32 i = 0; i < max_words; i++) {
		__u64 w;

		if (i * 8 >= len)
			break;
		w = p[i];
		if (len - i * 8 < 8) /* bytes past the end are not part of the value */
			w &= (1ULL << ((len - i * 8) * 8)) - 1;
		h = (h ^ w) * 0x100000001b3ULL;
	}
	return h;
}

/*
 * Degraded: whether this exec repeats one reported less than PROC_REPEAT_NS
 * ago (counted, not reported); otherwise it becomes the last reported one.
 */
static __always_inline bool proc_exec_repeated(struct proc_exec_event *e, __u32 filename_len)
{
	struct proc_exec_key key = { .uid = e->hdr.uid };
	__u64 now = bpf_ktime_get_ns();
	__u64 *last;

	key.hash = proc_hash((const __u64 *)e->filename, filename_len, PROC_FILENAME_LEN / 8,
			     0xcbf29ce484222325ULL);
	key.hash = proc_hash((const __u64 *)e->args, e->args_size, PROC_ARGS_LEN / 8, key.hash);
	last = bpf_map_lookup_elem(&ft_proc_exec_seen, &key);
	if (last && now - *last < PROC_REPEAT_NS) {
		FT_COUNT_LOST(ft_proc_quieted);
		return true;
	}
	bpf_map_update_elem(&ft_proc_exec_seen, &key, &now, BPF_ANY);
	return false;
}

FT_BTF_EXPORT(struct proc_exec_event, exec);
FT_BTF_EXPORT(struct proc_exit_event, exit);
FT_BTF_EXPORT(struct proc_fork_event, fork);
FT_BTF_EXPORT(struct proc_signal_event, signal);
FT_BTF_EXPORT(struct proc_oom_event, oom);

static __always_inline void *proc_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&ft_proc_events, size, 0);

	if (!e)
		FT_COUNT_LOST(ft_proc_lost);
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ft_proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct proc_exec_event *e;
	unsigned long start, end, size;
	long filename_len;

	if (!ft_filter_task(p))
		return 0;
	e = proc_reserve(sizeof(*e));
	if (!e)
		return 0;
	ft_fill_header_task(&e->hdr, p, PROC_EXEC);
	e->ppid = p->real_parent->tgid;
	filename_len = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
	start = p->mm->arg_start;
	end = p->mm->arg_end;
	size = end > start ? end - start : 0;
	e->args_truncated = size > PROC_ARGS_LEN;
	if (size > PROC_ARGS_LEN)
		size = PROC_ARGS_LEN;
	e->args_size = size;
	if (bpf_probe_read_user(e->args, size, (void *)start))
		e->args_size = 0;
	e->pad = 0;
	if (proc_quiet() && proc_exec_repeated(e, filename_len > 0 ? filename_len : 0)) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}
	ft_ringbuf_submit(e, &ft_proc_events);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ft_proc_exit, struct task_struct *p)
{
	struct proc_exit_event *e;

	/* Threads exit one by one; report the process when its last thread goes. */
	if (p->signal->live.counter != 0)
		return 0;
	if (!ft_filter_task(p))
		return 0;
	if (p->exit_code == 0 && proc_count_quieted())
		return 0;
	e = proc_reserve(sizeof(*e));
	if (!e)
		return 0;
	ft_fill_header_task(&e->hdr, p, PROC_EXIT);
	e->ppid = p->real_parent->tgid;
	e->exit_code = p->exit_code;
	e->lifetime_ns = bpf_ktime_get_ns() - p->group_leader->start_time;
	ft_ringbuf_submit(e, &ft_proc_events);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ft_proc_fork, struct task_struct *parent, struct task_struct *child)
{
	struct proc_fork_event *e;

	/* New threads are not new processes. */
	if (child->pid != child->tgid)
		return 0;
	if (!ft_filter_task(parent))
		return 0;
	if (proc_count_quieted())
		return 0;
	e = proc_reserve(sizeof(*e));
	if (!e)
		return 0;
	ft_fill_header_task(&e->hdr, parent, PROC_FORK);
	e->child_pid = child->tgid;
	e->pad = 0;
	ft_ringbuf_submit(e, &ft_proc_events);
	return 0;
}

SEC("tp_btf/signal_generate")
int BPF_PROG(ft_proc_signal, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct task_struct *sender = bpf_get_current_task_btf();
	struct proc_signal_event *e;

	if (sig == SIGCHLD && !proc_include_sigchld)
		return 0;
	/* Either end of the signal may be the process of interest. */
	if (!ft_filter_task(task) && !ft_filter_task(sender))
		return 0;
	e = proc_reserve(sizeof(*e));
	if (!e)
		return 0;
	ft_fill_header_task(&e->hdr, sender, PROC_SIGNAL);
	e->sig = sig;
	e->result = result;
	e->target_pid = task->tgid;
	e->target_tid = task->pid;
	e->target_uid = ft_task_uid(task);
	e->pad = 0;
	e->target_cgroup = ft_task_cgroup(task);
	bpf_probe_read_kernel_str(e->target_comm, sizeof(e->target_comm), task->comm);
	ft_ringbuf_submit(e, &ft_proc_events);
	return 0;
}

static __always_inline __u64 rss_pages(struct mm_struct *mm, int member)
{
	/* percpu_counter (6.2+): the central count, off by at most the batch per CPU. */
	__s64 n = BPF_CORE_READ(mm, rss_stat[member].count);

	return n > 0 ? n : 0;
}

/* oom:mark_victim with the task argument (6.8+); older kernels pass a pid and this program is not loaded. */
SEC("tp_btf/mark_victim")
int BPF_PROG(ft_proc_oom, struct task_struct *victim, uid_t uid)
{
	struct task_struct *trigger = bpf_get_current_task_btf();
	struct proc_oom_event *e;
	struct mm_struct *mm;
	__u64 page_kb = 4;

	if (!ft_filter_task(victim))
		return 0;
	e = proc_reserve(sizeof(*e));
	if (!e)
		return 0;
	ft_fill_header_task(&e->hdr, victim, PROC_OOM);
	mm = victim->mm;
	e->total_vm_kb = mm ? BPF_CORE_READ(mm, total_vm) * page_kb : 0;
	e->anon_rss_kb = mm ? rss_pages(mm, MM_ANONPAGES) * page_kb : 0;
	e->file_rss_kb = mm ? rss_pages(mm, MM_FILEPAGES) * page_kb : 0;
	e->shmem_rss_kb = mm ? rss_pages(mm, MM_SHMEMPAGES) * page_kb : 0;
	e->trigger_pid = trigger->tgid;
	e->pad = 0;
	bpf_probe_read_kernel_str(e->trigger_comm, sizeof(e->trigger_comm), trigger->comm);
	ft_ringbuf_submit(e, &ft_proc_events);
	return 0;
}
