/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `tracepoint` collector, shared with user space through BTF. */
#ifndef FT_TRACEPOINT_H
#define FT_TRACEPOINT_H

#define TP_MAX_PREDS 8
#define TP_CHARS_MAX 16

enum tp_op {
	TP_EQ = 0,
	TP_NE = 1,
	TP_LT = 2,
	TP_LE = 3,
	TP_GT = 4,
	TP_GE = 5,
};

enum tp_kind {
	TP_UNSIGNED = 0,
	TP_SIGNED = 1,
	TP_CHARS = 2,	 /* char name[N] */
	TP_DATA_LOC = 3, /* __data_loc char[]: u32 (length << 16 | offset in the record) */
	TP_REL_LOC = 4,	 /* __rel_loc char[]: the same, the offset from the end of the u32 */
};

/* One comparison of a record field with a constant (see src/tracepoint/filter.ts). */
struct tp_pred {
	__u16 offset;	   /* of the field in the record */
	__u8 size;	   /* 1, 2, 4, 8; chars: the array's size, at most TP_CHARS_MAX; locs: 4 */
	__u8 kind;	   /* enum tp_kind */
	__u8 op;	   /* enum tp_op */
	__u8 ends_clause;  /* the last of a && clause: the next one starts after || */
	__u8 pad[2];
	__u64 value;	   /* integers (two's complement when signed) */
	char chars[TP_CHARS_MAX]; /* strings, NUL-padded */
};

struct tp_key {
	__u32 uid;
	__u32 pad;
	char comm[16];
};

/*
 * Each CPU's last few keys with their hits since they came in (ft_tp_cache,
 * one per buffer): a hit of a key already there costs no hash lookup; the key
 * a new one evicts is added into the counts map; a drain reads the idle
 * buffer's caches with the idle counts map and empties them.
 */
#define TP_CACHE_SLOTS 4

struct tp_cache_slot {
	struct tp_key key;
	__u64 value; /* hits */
	__u64 used;
};

struct tp_cache {
	struct tp_cache_slot slot[TP_CACHE_SLOTS];
	__u32 next; /* the slot the next new key takes */
	__u32 pad;
};

#endif /* FT_TRACEPOINT_H */
