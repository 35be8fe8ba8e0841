// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * biolatency: block I/O latency from issue to the driver until completion,
 * per disk, operation (read, write, flush, discard) and issuing user, as a
 * log2 histogram with the bytes. Keyed on the request: tp_btf block_rq_issue
 * stores its start, block_rq_complete ends it. The user is that of the task
 * running when the request went to the driver: the submitter for direct and
 * most synchronous I/O, a kernel worker (uid 0) for writeback and requests
 * the block layer issued later from its own context. Counts are
 * double-buffered (FT_DB_CTL).
 */
#include "ft_common.h"
#include "biolatency.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define BL_REQ_OP_MASK 0xff

struct bl_start {
	__u64 ts;
	__u64 bytes;
	struct bl_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* the request's address */
	__type(value, struct bl_start);
} ft_bl_start SEC(".maps");

struct bl_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bl_key);
	__type(value, struct bl_value);
} ft_bl_counts_a SEC(".maps"), ft_bl_counts_b SEC(".maps");

FT_DB_CTL(ft_bl_ctl);

FT_LOST_MAP(ft_bl_lost);

static __always_inline __u32 bl_op(__u32 cmd_flags)
{
	switch (cmd_flags & BL_REQ_OP_MASK) {
	case 0:
		return BL_READ;
	case 1:
		return BL_WRITE;
	case 2:
		return BL_FLUSH;
	case 3:
		return BL_DISCARD;
	default:
		return BL_OTHER;
	}
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ft_bl_issue, struct request *rq)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct bl_start s = {};
	__u64 addr = (__u64)rq;

	if (!ft_filter_task(task))
		return 0;
	/* loads through the BTF pointer (CO-RE relocated), not probe reads: this runs per request */
	struct gendisk *disk = rq->q->disk;

	s.ts = bpf_ktime_get_ns();
	s.bytes = rq->__data_len;
	s.key.major = disk->major;
	s.key.minor = disk->first_minor;
	s.key.op = bl_op(rq->cmd_flags);
	s.key.uid = ft_task_uid(task);
	if (bpf_map_update_elem(&ft_bl_start, &addr, &s, BPF_ANY) != 0)
		FT_COUNT_LOST(ft_bl_lost);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(ft_bl_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 addr = (__u64)rq, delta;
	struct bl_value fresh = {}, *v;
	struct ft_db_ctl *ctl;
	struct bl_start *s;
	void *map;

	s = bpf_map_lookup_elem(&ft_bl_start, &addr);
	if (!s)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	ctl = ft_db_ctl_get(&ft_bl_ctl);
	map = ctl && ctl->active ? (void *)&ft_bl_counts_b : (void *)&ft_bl_counts_a;
	v = bpf_map_lookup_elem(map, &s->key);
	if (!v) {
		bpf_map_update_elem(map, &s->key, &fresh, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, &s->key);
	}
	if (v) {
		v->count++;
		v->bytes += s->bytes;
		v->total_ns += delta;
		if (delta > v->max_ns)
			v->max_ns = delta;
		v->hist[ft_hist_slot(delta, BL_HIST_SLOTS)]++;
	} else {
		FT_COUNT_LOST(ft_bl_lost);
	}
	bpf_map_delete_elem(&ft_bl_start, &addr);
	return 0;
}
