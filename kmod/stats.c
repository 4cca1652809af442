// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - /proc/net/ktls_stat, one set of counters per network namespace.
 *
 * The names are those of the in-tree module's /proc/net/tls_stat, so
 * tools that read one can read the other.  Counters are per-CPU and summed
 * when the file is read.
 */
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "ktls.h"

static const char *const ktls_stat_names[KTLS_STAT_NUM] = {
	[KTLS_STAT_CURR_TX_SW]		= "TlsCurrTxSw",
	[KTLS_STAT_CURR_RX_SW]		= "TlsCurrRxSw",
	[KTLS_STAT_CURR_TX_DEVICE]	= "TlsCurrTxDevice",
	[KTLS_STAT_CURR_RX_DEVICE]	= "TlsCurrRxDevice",
	[KTLS_STAT_TX_SW]		= "TlsTxSw",
	[KTLS_STAT_RX_SW]		= "TlsRxSw",
	[KTLS_STAT_TX_DEVICE]		= "TlsTxDevice",
	[KTLS_STAT_RX_DEVICE]		= "TlsRxDevice",
	[KTLS_STAT_DECRYPT_ERROR]	= "TlsDecryptError",
	[KTLS_STAT_RX_DEVICE_RESYNC]	= "TlsRxDeviceResync",
	[KTLS_STAT_DECRYPT_RETRY]	= "TlsDecryptRetry",
	[KTLS_STAT_RX_NO_PAD_VIOLATION]	= "TlsRxNoPadViolation",
	[KTLS_STAT_RX_REKEY_OK]		= "TlsRxRekeyOk",
	[KTLS_STAT_RX_REKEY_ERROR]	= "TlsRxRekeyError",
	[KTLS_STAT_TX_REKEY_OK]		= "TlsTxRekeyOk",
	[KTLS_STAT_TX_REKEY_ERROR]	= "TlsTxRekeyError",
	[KTLS_STAT_RX_REKEY_RECEIVED]	= "TlsRxRekeyReceived",
	/* ktls only: tickets consumed for the handshake agent (rx_sw.c) */
	[KTLS_STAT_RX_SESSION_TICKET]	= "TlsRxSessionTicket",
	/* ktls only: records handed to the TX worker, and those of them the
	 * writer took back because no CPU had started on them (tx_sw.c) */
	[KTLS_STAT_TX_ASYNC]		= "TlsTxAsync",
	[KTLS_STAT_TX_ASYNC_RECLAIMED]	= "TlsTxAsyncReclaimed",
	/* ktls only: shutdown(SHUT_WR) whose FIN waited for records TCP
	 * could not take at once, and close() that had to reset the
	 * connection because TCP refused records (tx_sw.c) */
	[KTLS_STAT_TX_FIN_DEFERRED]	= "TlsTxFinDeferred",
	[KTLS_STAT_TX_CLOSE_RESET]	= "TlsTxCloseReset",
	/* ktls only: TX directions a device's add refused (they run in
	 * software), and segments of offloaded records that left through
	 * another device or after the connection left its device, sealed
	 * by the software fallback (tx_dev.c) */
	[KTLS_STAT_TX_DEVICE_REFUSED]	= "TlsTxDeviceRefused",
	[KTLS_STAT_TX_DEVICE_FALLBACK]	= "TlsTxDeviceFallback",
};

struct ktls_mib {
	long v[KTLS_STAT_NUM];
};

struct ktls_net {
	struct ktls_mib __percpu *mib;
};

static unsigned int ktls_net_id __read_mostly;

void ktls_stat_add(struct net *net, enum ktls_stat stat, long delta)
{
	struct ktls_net *kn = net_generic(net, ktls_net_id);

	this_cpu_add(kn->mib->v[stat], delta);
}

static int ktls_stat_show(struct seq_file *seq, void *v)
{
	struct ktls_net *kn = net_generic(seq_file_single_net(seq),
					  ktls_net_id);
	int i, cpu;

	for (i = 0; i < KTLS_STAT_NUM; i++) {
		long sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu_ptr(kn->mib, cpu)->v[i];
		seq_printf(seq, "%-32s\t%ld\n", ktls_stat_names[i], sum);
	}
	return 0;
}

static int __net_init ktls_net_init(struct net *net)
{
	struct ktls_net *kn = net_generic(net, ktls_net_id);

	kn->mib = alloc_percpu(struct ktls_mib);
	if (!kn->mib)
		return -ENOMEM;
	if (!proc_create_net_single("ktls_stat", 0444, net->proc_net,
				    ktls_stat_show, NULL)) {
		free_percpu(kn->mib);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit ktls_net_exit(struct net *net)
{
	struct ktls_net *kn = net_generic(net, ktls_net_id);

	remove_proc_entry("ktls_stat", net->proc_net);
	free_percpu(kn->mib);
}

static struct pernet_operations ktls_net_ops = {
	.init	= ktls_net_init,
	.exit	= ktls_net_exit,
	.id	= &ktls_net_id,
	.size	= sizeof(struct ktls_net),
};

int ktls_stats_init(void)
{
	return register_pernet_subsys(&ktls_net_ops);
}

void ktls_stats_exit(void)
{
	unregister_pernet_subsys(&ktls_net_ops);
}
