// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpu_profile: perf_event cpu-clock samples on every CPU, counted in the kernel
 * per (pid, uid, cgroup, kernel stack, user stack). Counts and stack maps are
 * double-buffered together (ft_cp_ctl.active), so a drained buffer's stack ids
 * always refer to its own stack map.
 *
 * The same program feeds the per-sample stream a flight recorder needs: when
 * ft_cp_ctl.stream is set it also emits every sample with its raw stacks. There
 * is never a second sampler.
 *
 * The first sample of an address space (process, mm) emits CP_NEW_ADDRESS_SPACE
 * so user space records its mappings while the process still runs: a 100 ms
 * process that exits before the drain is still symbolized.
 */
#include "ft_common.h"
#include "cpu_profile.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct cp_counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cp_key);
	__type(value, struct cp_value);
} ft_cp_counts_a SEC(".maps"), ft_cp_counts_b SEC(".maps");

struct cp_stacks_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, CP_MAX_FRAMES * sizeof(__u64));
} ft_cp_stacks_a SEC(".maps"), ft_cp_stacks_b SEC(".maps");

/* Address spaces already announced: (tgid, mm) -> 1. */
struct cp_mm_key {
	__u64 mm;
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cp_mm_key);
	__type(value, __u8);
} ft_cp_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} ft_cp_events SEC(".maps");

FT_DB_CTL(ft_cp_ctl);

/* [0]: samples not counted (map full); [1]: events not emitted (ring full); [2]: stacks not captured */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} ft_cp_lost SEC(".maps");

FT_BTF_EXPORT(struct cp_event, event);

static __always_inline void cp_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&ft_cp_lost, &slot);

	if (n)
		(*n)++;
}

static __always_inline void cp_announce(struct task_struct *task)
{
	struct cp_mm_key key = { .mm = (__u64)task->mm, .pid = task->tgid };
	__u8 one = 1;
	struct cp_event *e;

	if (!key.mm || bpf_map_lookup_elem(&ft_cp_seen, &key))
		return;
	bpf_map_update_elem(&ft_cp_seen, &key, &one, BPF_ANY);
	/* Only the header is needed: reserve the header-sized prefix of the struct. */
	e = bpf_ringbuf_reserve(&ft_cp_events, sizeof(struct ft_event_header), 0);
	if (!e) {
		cp_lost(1);
		return;
	}
	ft_fill_header_task(&e->hdr, task, CP_NEW_ADDRESS_SPACE);
	/* Wake the reader now: the agent reads /proc/<pid>/maps before a short-lived process is gone. */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void cp_stream(struct bpf_perf_event_data *ctx, struct task_struct *task)
{
	struct cp_event *e = bpf_ringbuf_reserve(&ft_cp_events, sizeof(*e), 0);
	long n;

	if (!e) {
		cp_lost(1);
		return;
	}
	ft_fill_header_task(&e->hdr, task, CP_SAMPLE);
	e->cpu = bpf_get_smp_processor_id();
	n = bpf_get_stack(ctx, e->kernel_ips, sizeof(e->kernel_ips), 0);
	e->kernel_frames = n > 0 ? n / sizeof(__u64) : 0;
	n = bpf_get_stack(ctx, e->user_ips, sizeof(e->user_ips), BPF_F_USER_STACK);
	e->user_frames = n > 0 ? n / sizeof(__u64) : 0;
	e->pad = 0;
	ft_ringbuf_submit(e, &ft_cp_events);
}

static __always_inline void cp_count(struct bpf_perf_event_data *ctx, struct task_struct *task,
				     void *counts, void *stacks)
{
	struct cp_key key = {
		.pid = task->tgid,
		.uid = ft_task_uid(task),
		.cgroup = ft_task_cgroup(task),
	};
	struct cp_value *v, init = {};

	key.kernel_stack = bpf_get_stackid(ctx, stacks, 0);
	/* Kernel threads have no user stack (-EFAULT): not a loss. */
	key.user_stack = task->mm ? bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK) : -14;
	if (key.kernel_stack < 0 && key.kernel_stack != -14)
		cp_lost(2);
	if (key.user_stack < 0 && key.user_stack != -14)
		cp_lost(2);
	v = bpf_map_lookup_elem(counts, &key);
	if (!v) {
		bpf_probe_read_kernel_str(init.comm, sizeof(init.comm), task->comm);
		if (bpf_map_update_elem(counts, &key, &init, BPF_NOEXIST) && !bpf_map_lookup_elem(counts, &key)) {
			cp_lost(0);
			return;
		}
		v = bpf_map_lookup_elem(counts, &key);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->samples, 1);
}

SEC("perf_event")
int ft_cp_sample(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ft_db_ctl *ctl;

	if (task->tgid == 0) /* the idle task: the CPU was not busy */
		return 0;
	if (!ft_filter_task(task))
		return 0;
	ctl = ft_db_ctl_get(&ft_cp_ctl);
	if (!ctl)
		return 0;
	if (task->mm)
		cp_announce(task);
	if (ctl->active)
		cp_count(ctx, task, &ft_cp_counts_b, &ft_cp_stacks_b);
	else
		cp_count(ctx, task, &ft_cp_counts_a, &ft_cp_stacks_a);
	if (ctl->stream)
		cp_stream(ctx, task);
	return 0;
}
