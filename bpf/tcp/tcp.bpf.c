// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcp: connection lifecycle (open to close with duration, bytes in and out,
 * connect latency) and retransmits, IPv4 and IPv6, with the owning process.
 * State changes come from tp_btf/inet_sock_set_state: SYN_SENT is a connect
 * (in the connecting process: the owner), SYN_RECV -> ESTABLISHED an accepted
 * connection (in softirq: no owner yet; accept()'s exit finds the socket
 * through the returned fd and names it), CLOSE the end. Retransmits come
 * from tp_btf/tcp_retransmit_skb. Events go to a ring buffer; full is
 * counted in ft_tc_lost.
 */
#include "ft_common.h"
#include <bpf/bpf_endian.h>
#include "tcp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_AF_INET 2
#define TC_AF_INET6 10
#define TC_IPPROTO_TCP 6
#define TC_ESTABLISHED 1
#define TC_SYN_SENT 2
#define TC_SYN_RECV 3
#define TC_CLOSE 7

struct tc_sock {
	__u64 opened_ns;
	__u64 syn_ns;	/* active side: when SYN was sent */
	__u64 connect_ns;
	__u64 cgroup;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u16 sport; /* at establishment: by the close the local port may be released */
	__u16 dport;
	__u8 role;
	__u8 has_owner;
	__u8 pad[2];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* the socket's address */
	__type(value, struct tc_sock);
} ft_tc_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} ft_tc_events SEC(".maps");

/* [0]: ring buffer full; [1]: connections not followed (socket table full) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ft_tc_lost SEC(".maps");

FT_BTF_EXPORT(struct tc_event, event);

static __always_inline void tc_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&ft_tc_lost, &slot);

	if (n)
		(*n)++;
}

static __always_inline void tc_own(struct tc_sock *s, struct task_struct *task)
{
	s->pid = task->tgid;
	s->tid = task->pid;
	s->uid = ft_task_uid(task);
	s->cgroup = ft_task_cgroup(task);
	bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), task->comm);
	s->has_owner = 1;
}

/* Addresses, ports and family of `sk` into the event. */
static __always_inline void tc_addrs(struct tc_event *e, const struct sock *sk)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (e->family == TC_AF_INET6) {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline void tc_header(struct tc_event *e, struct tc_sock *s, __u32 kind)
{
	e->hdr.ts_ns = bpf_ktime_get_boot_ns();
	e->hdr.kind = kind;
	if (s && s->has_owner) {
		e->hdr.cgroup = s->cgroup;
		e->hdr.pid = s->pid;
		e->hdr.tid = s->tid;
		e->hdr.uid = s->uid;
		__builtin_memcpy(e->hdr.comm, s->comm, sizeof(e->hdr.comm));
	} else {
		e->hdr.cgroup = 0;
		e->hdr.pid = 0;
		e->hdr.tid = 0;
		e->hdr.uid = 0;
		__builtin_memset(e->hdr.comm, 0, sizeof(e->hdr.comm));
	}
}

/* With a filter active, only connections whose owner passed it are reported. */
static __always_inline bool tc_reported(struct tc_sock *s)
{
	__u32 zero = 0;
	struct ft_filter_cfg *cfg = bpf_map_lookup_elem(&ft_filter, &zero);

	if (cfg && cfg->flags)
		return s && s->has_owner;
	return true;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(ft_tc_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct tc_sock fresh = {}, *s;
	struct tc_event *e;
	const struct tcp_sock *tp;

	if (BPF_CORE_READ(sk, sk_protocol) != TC_IPPROTO_TCP)
		return 0;
	if (newstate == TC_SYN_SENT) {
		struct task_struct *task = bpf_get_current_task_btf();

		if (!ft_filter_task(task))
			return 0;
		fresh.opened_ns = now;
		fresh.syn_ns = now;
		fresh.role = TC_ACTIVE;
		tc_own(&fresh, task);
		if (bpf_map_update_elem(&ft_tc_socks, &key, &fresh, BPF_ANY) != 0)
			tc_lost(1);
		return 0;
	}
	if (newstate == TC_ESTABLISHED) {
		s = bpf_map_lookup_elem(&ft_tc_socks, &key);
		if (s && oldstate == TC_SYN_SENT) {
			s->connect_ns = now - s->syn_ns;
		} else if (!s && oldstate == TC_SYN_RECV) {
			fresh.opened_ns = now;
			fresh.role = TC_PASSIVE;
			if (bpf_map_update_elem(&ft_tc_socks, &key, &fresh, BPF_NOEXIST) != 0)
				tc_lost(1);
			s = bpf_map_lookup_elem(&ft_tc_socks, &key);
		}
		if (s) {
			s->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
			s->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		}
		return 0;
	}
	if (newstate != TC_CLOSE)
		return 0;
	s = bpf_map_lookup_elem(&ft_tc_socks, &key);
	if (!s)
		return 0;
	if (tc_reported(s)) {
		e = bpf_ringbuf_reserve(&ft_tc_events, sizeof(*e), 0);
		if (!e) {
			tc_lost(0);
		} else {
			tp = (const struct tcp_sock *)sk;
			tc_header(e, s, TC_CLOSE);
			tc_addrs(e, sk);
			if (s->sport)
				e->sport = s->sport;
			if (s->dport)
				e->dport = s->dport;
			e->duration_ns = now - s->opened_ns;
			e->connect_ns = s->connect_ns;
			e->bytes_in = BPF_CORE_READ(tp, bytes_received);
			e->bytes_out = BPF_CORE_READ(tp, bytes_acked);
			e->role = s->role;
			e->state = oldstate;
			ft_ringbuf_submit(e, &ft_tc_events);
		}
	}
	bpf_map_delete_elem(&ft_tc_socks, &key);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(ft_tc_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct tc_sock *s = bpf_map_lookup_elem(&ft_tc_socks, &key);
	struct tc_event *e;

	if (!tc_reported(s))
		return 0;
	e = bpf_ringbuf_reserve(&ft_tc_events, sizeof(*e), 0);
	if (!e) {
		tc_lost(0);
		return 0;
	}
	tc_header(e, s, TC_RETRANSMIT);
	tc_addrs(e, sk);
	e->duration_ns = 0;
	e->connect_ns = 0;
	e->bytes_in = 0;
	e->bytes_out = 0;
	e->role = s ? s->role : TC_UNKNOWN;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	ft_ringbuf_submit(e, &ft_tc_events);
	return 0;
}

/* accept() and accept4() returned fd: its socket's connection gets this process as owner. */
static __always_inline void tc_accepted(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file **fds, *file;
	struct socket *sock;
	struct sock *sk;
	struct tc_sock *s;
	__u64 key;

	if (fd < 0 || fd >= 1 << 20)
		return;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (fd >= BPF_CORE_READ(task, files, fdt, max_fds))
		return;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return;
	sock = (struct socket *)BPF_CORE_READ(file, private_data);
	if (!sock)
		return;
	sk = BPF_CORE_READ(sock, sk);
	key = (__u64)sk;
	s = bpf_map_lookup_elem(&ft_tc_socks, &key);
	if (!s || s->has_owner)
		return;
	if (!ft_filter_task(task))
		return;
	tc_own(s, task);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int ft_tc_accept4(struct trace_event_raw_sys_exit *ctx)
{
	tc_accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int ft_tc_accept(struct trace_event_raw_sys_exit *ctx)
{
	tc_accepted(ctx->ret);
	return 0;
}
