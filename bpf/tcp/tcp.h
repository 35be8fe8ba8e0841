/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The events of the `tcp` collector, shared with user space through BTF. */
#ifndef FT_TCP_H
#define FT_TCP_H

#include "ft_event.h"

/* ft_event_header.kind */
enum tc_kind {
	TC_CLOSE = 0,	   /* a connection ended: lifecycle, bytes */
	TC_RETRANSMIT = 1, /* a segment was sent again */
};

enum tc_role {
	TC_UNKNOWN = 0, /* opened before the collector started */
	TC_ACTIVE = 1,	/* connect(): this host opened it */
	TC_PASSIVE = 2, /* accepted: the peer opened it */
};

/*
 * Header: the owning process (the one that connected, or accepted), remembered
 * when it did; pid 0 when no process is known (accepted but not yet taken by
 * accept(), or opened before the collector started).
 */
struct tc_event {
	struct ft_event_header hdr;
	__u64 duration_ns; /* close: from open (SYN sent, or established for the passive side) */
	__u64 connect_ns;  /* close, active side: SYN sent to established */
	__u64 bytes_in;	   /* close: bytes received (tcp_sock.bytes_received) */
	__u64 bytes_out;   /* close: bytes the peer acknowledged (tcp_sock.bytes_acked) */
	__u8 saddr[16];	   /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 family; /* AF_INET 2, AF_INET6 10 */
	__u8 role;    /* enum tc_role */
	__u8 state;   /* retransmit: the TCP state; close: the state it closed from */
};

#endif /* FT_TCP_H */
