// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* An empty tc program: the baseline the marker benchmark subtracts (the cost
 * of BPF_PROG_TEST_RUN's own loop and of entering a tc program). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
/* After linux/bpf.h, whose types it uses. */
#include <bpf/bpf_helpers.h>

SEC("tc")
int kmesh_empty_tc(struct __sk_buff *skb) { return TC_ACT_OK; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
