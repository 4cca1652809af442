// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - kernel TLS record layer as a TCP upper-layer protocol.
 *
 * Module init and exit only; see ktls.h for the map of the other files.
 */
#include <linux/module.h>
#include <net/tcp.h>

#include "ktls.h"

static int __init ktls_init(void)
{
	int err;

	err = ktls_stats_init();
	if (err)
		return err;
	err = ktls_tx_sw_wq_init();
	if (err)
		goto err_stats;
	err = ktls_handshake_init();
	if (err)
		goto err_wq;
	err = ktls_dev_init();
	if (err)
		goto err_handshake;
	err = ktls_tx_dev_init();
	if (err)
		goto err_dev;
	err = ktls_ulp_register();
	if (err)
		goto err_tx_dev;
	pr_info("ktls: TLS record layer registered as TCP ULP \"%s\"\n",
		KTLS_ULP_NAME);
	return 0;

err_tx_dev:
	ktls_tx_dev_exit();
err_dev:
	ktls_dev_exit();
err_handshake:
	ktls_handshake_exit();
err_wq:
	ktls_tx_sw_wq_exit();
err_stats:
	ktls_stats_exit();
	return err;
}

static void __exit ktls_exit(void)
{
	ktls_ulp_unregister();
	ktls_tx_dev_exit();	/* its work items put devices */
	ktls_dev_exit();
	ktls_handshake_exit();
	ktls_tx_sw_wq_exit();
	ktls_stats_exit();
}

module_init(ktls_init);
module_exit(ktls_exit);

MODULE_DESCRIPTION("ktls: TLS 1.2/1.3 record layer for TCP sockets");
MODULE_LICENSE("GPL");
MODULE_ALIAS_TCP_ULP(KTLS_ULP_NAME);
