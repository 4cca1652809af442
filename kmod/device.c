// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - the registry of NIC drivers that offer TLS offload (ktls_dev.h).
 *
 * A driver registers a net_device with its ops; ktls keeps one entry per
 * device, holding a tracked reference on it, until the driver unregisters
 * it or the device is unregistered.  ktls_dev_lookup() finds the entry of
 * the device a socket's route leaves through, when that device offers the
 * direction (feature bit on) and the connection's version and cipher.
 *
 * First step: sockopt.c looks the device up, but no device data path
 * exists yet, so every direction still runs in software and the ops are
 * never called.  The netdev notifier only drops the registration of a
 * device being unregistered; going down or losing a feature will move
 * offloaded connections back to software here once there are any.
 *
 * /proc/net/ktls_devices lists the devices registered in the namespace.
 */
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/proc_fs.h>
#include <linux/rculist.h>
#include <linux/refcount.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <net/dst.h>
#include <net/net_namespace.h>
#include <net/tls.h>

#include "ktls.h"

/*
 * One registered device.  The list holds one reference, each lookup one
 * more; after the last put and a grace period (lookups walk the list
 * under RCU only) the device reference is released and the entry freed.
 */
struct ktls_dev {
	struct list_head node;		/* ktls_dev_list */
	struct net_device *dev;		/* held, tracked */
	netdevice_tracker tracker;
	const struct ktls_dev_ops *ops;
	refcount_t ref;
	struct rcu_head rcu;
};

/*
 * Locking: ktls_dev_lock (a mutex) serialises the writers of
 * ktls_dev_list: register, unregister and the notifier.  The notifier
 * runs under RTNL, and ktls_dev_register()/unregister() may be called
 * under RTNL, so the order is RTNL, then ktls_dev_lock; nothing holding
 * ktls_dev_lock takes RTNL or a socket lock.  Readers (ktls_dev_lookup,
 * the proc file) walk the list under rcu_read_lock() and take a reference
 * with refcount_inc_not_zero(); they may run under the socket lock.
 */
static DEFINE_MUTEX(ktls_dev_lock);
static LIST_HEAD(ktls_dev_list);

#define KTLS_DEV_VERSIONS	(KTLS_DEV_TLS_1_2 | KTLS_DEV_TLS_1_3)
#define KTLS_DEV_CIPHERS	GENMASK(KTLS_DEV_CIPHER_LAST - \
					KTLS_DEV_CIPHER_FIRST, 0)

/* Readers may still be looking at the entry and its device (the proc
 * file reads its name and features): both go after a grace period. */
static void ktls_dev_free_rcu(struct rcu_head *rcu)
{
	struct ktls_dev *kd = container_of(rcu, struct ktls_dev, rcu);

	netdev_put(kd->dev, &kd->tracker);
	kfree(kd);
}

void ktls_dev_put(struct ktls_dev *kd)
{
	if (refcount_dec_and_test(&kd->ref))
		call_rcu(&kd->rcu, ktls_dev_free_rcu);
}

/* The device and ops of an entry the caller holds a reference on. */
struct net_device *ktls_dev_netdev(const struct ktls_dev *kd)
{
	return kd->dev;
}

const struct ktls_dev_ops *ktls_dev_ops_of(const struct ktls_dev *kd)
{
	return kd->ops;
}

/* Caller holds ktls_dev_lock. */
static struct ktls_dev *ktls_dev_find(const struct net_device *dev)
{
	struct ktls_dev *kd;

	list_for_each_entry(kd, &ktls_dev_list, node)
		if (kd->dev == dev)
			return kd;
	return NULL;
}

static bool ktls_dev_caps_valid(const struct ktls_dev_caps *caps)
{
	if (!caps->versions && !caps->ciphers)
		return true;		/* the direction is not offered */
	return caps->versions && caps->ciphers &&
	       !(caps->versions & ~KTLS_DEV_VERSIONS) &&
	       !(caps->ciphers & ~KTLS_DEV_CIPHERS);
}

static bool ktls_dev_ops_valid(const struct ktls_dev_ops *ops)
{
	if (!ops->add || !ops->del)
		return false;
	if (ops->rx.versions && !ops->resync)
		return false;
	if (ops->priv_size > KTLS_DEV_PRIV_MAX)
		return false;
	return ktls_dev_caps_valid(&ops->tx) && ktls_dev_caps_valid(&ops->rx);
}

int ktls_dev_register(struct net_device *dev, const struct ktls_dev_ops *ops)
{
	struct ktls_dev *kd;
	int err;

	if (!dev || !ops || !ktls_dev_ops_valid(ops))
		return -EINVAL;
#if IS_ENABLED(CONFIG_TLS_DEVICE)
	/* tls.ko would call a NULL tls_dev_add (ktls_dev.h). */
	if (!dev->tlsdev_ops) {
		netdev_warn(dev, "ktls: no tlsdev_ops: set ktls_dev_tlsdev_refuse\n");
		return -EINVAL;
	}
#endif
	kd = kzalloc(sizeof(*kd), GFP_KERNEL);
	if (!kd)
		return -ENOMEM;
	kd->dev = dev;
	kd->ops = ops;
	refcount_set(&kd->ref, 1);

	mutex_lock(&ktls_dev_lock);
	/*
	 * reg_state leaves NETREG_REGISTERED before the unregister notifier
	 * runs, and the notifier takes ktls_dev_lock: either we see the
	 * device going, or the notifier finds our entry.
	 */
	if (READ_ONCE(dev->reg_state) != NETREG_REGISTERED) {
		err = -ENODEV;
		goto err_unlock;
	}
	if (ktls_dev_find(dev)) {
		err = -EEXIST;
		goto err_unlock;
	}
	netdev_hold(dev, &kd->tracker, GFP_KERNEL);
	list_add_tail_rcu(&kd->node, &ktls_dev_list);
	mutex_unlock(&ktls_dev_lock);
	netdev_info(dev, "ktls: TLS offload registered (tx %#x/%#x, rx %#x/%#x)\n",
		    ops->tx.versions, ops->tx.ciphers, ops->rx.versions,
		    ops->rx.ciphers);
	return 0;

err_unlock:
	mutex_unlock(&ktls_dev_lock);
	kfree(kd);
	return err;
}
EXPORT_SYMBOL_GPL(ktls_dev_register);

/*
 * Drop dev's registration, if any.  When the device path exists, this is
 * where its connections go back to software and del is called for each.
 */
static void ktls_dev_drop(struct net_device *dev)
{
	struct ktls_dev *kd;

	mutex_lock(&ktls_dev_lock);
	kd = ktls_dev_find(dev);
	if (kd)
		list_del_rcu(&kd->node);
	mutex_unlock(&ktls_dev_lock);
	if (!kd)
		return;
	netdev_info(dev, "ktls: TLS offload unregistered\n");
	ktls_dev_put(kd);
}

void ktls_dev_unregister(struct net_device *dev)
{
	if (!dev)
		return;
	ktls_tx_dev_netdev_gone(dev);	/* del for each connection */
	ktls_dev_drop(dev);
}
EXPORT_SYMBOL_GPL(ktls_dev_unregister);

static bool ktls_dev_offers(const struct ktls_dev *kd, enum ktls_dev_dir dir,
			    const struct ktls_prot *prot)
{
	netdev_features_t feature = dir == KTLS_DEV_TX ? NETIF_F_HW_TLS_TX :
							 NETIF_F_HW_TLS_RX;
	const struct ktls_dev_caps *caps = dir == KTLS_DEV_TX ? &kd->ops->tx :
								&kd->ops->rx;
	u32 version = prot->version == TLS_1_3_VERSION ? KTLS_DEV_TLS_1_3 :
							 KTLS_DEV_TLS_1_2;
	u16 type = prot->cipher->type;

	if (!(READ_ONCE(kd->dev->features) & feature))
		return false;
	if (!(caps->versions & version))
		return false;
	if (type < KTLS_DEV_CIPHER_FIRST || type > KTLS_DEV_CIPHER_LAST)
		return false;
	return caps->ciphers & BIT(type - KTLS_DEV_CIPHER_FIRST);
}

/*
 * The registered device sk's route leaves through (below any bond or
 * team, as the in-tree module looks), if it offers direction dir for
 * prot's version and cipher; with a reference (ktls_dev_put), or NULL.
 * The socket lock is held; any context.
 */
struct ktls_dev *ktls_dev_lookup(struct sock *sk, enum ktls_dev_dir dir,
				 const struct ktls_prot *prot)
{
	struct ktls_dev *kd, *found = NULL;
	struct net_device *dev;
	struct dst_entry *dst;

	if (list_empty(&ktls_dev_list))	/* racy, but only a shortcut */
		return NULL;
	rcu_read_lock();
	dst = __sk_dst_get(sk);
	dev = dst ? dst_dev_rcu(dst) : NULL;
	if (dev)
		dev = netdev_sk_get_lowest_dev(dev, sk);
	if (!dev)
		goto out;
	list_for_each_entry_rcu(kd, &ktls_dev_list, node) {
		if (kd->dev != dev)
			continue;
		if (ktls_dev_offers(kd, dir, prot) &&
		    refcount_inc_not_zero(&kd->ref))
			found = kd;
		break;
	}
	/* The tests see the lookup's answer here (dynamic debug). */
	if (found)
		netdev_dbg(dev, "ktls: offers TLS %s offload to a socket\n",
			   dir == KTLS_DEV_TX ? "TX" : "RX");
out:
	rcu_read_unlock();
	return found;
}

#if IS_ENABLED(CONFIG_TLS_DEVICE)
static int ktls_dev_refuse_add(struct net_device *dev, struct sock *sk,
			       enum tls_offload_ctx_dir direction,
			       struct tls_crypto_info *crypto_info,
			       u32 start_offload_tcp_sn)
{
	return -EOPNOTSUPP;
}

static void ktls_dev_refuse_del(struct net_device *dev,
				struct tls_context *ctx,
				enum tls_offload_ctx_dir direction)
{
}

static int ktls_dev_refuse_resync(struct net_device *dev, struct sock *sk,
				  u32 seq, u8 *rcd_sn,
				  enum tls_offload_ctx_dir direction)
{
	return -EOPNOTSUPP;
}

/* tls.ko falls back to software when add fails; del and resync are
 * never called without a successful add. */
const struct tlsdev_ops ktls_dev_tlsdev_refuse = {
	.tls_dev_add	= ktls_dev_refuse_add,
	.tls_dev_del	= ktls_dev_refuse_del,
	.tls_dev_resync	= ktls_dev_refuse_resync,
};
EXPORT_SYMBOL_GPL(ktls_dev_tlsdev_refuse);
#endif

static int ktls_dev_event(struct notifier_block *nb, unsigned long event,
			  void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	switch (event) {
	case NETDEV_UNREGISTER:
		/*
		 * Also sent when the device moves to another namespace, with
		 * reg_state still NETREG_REGISTERED: the registration stays.
		 * Unregistering, the device waits for our reference.
		 */
		if (dev->reg_state != NETREG_REGISTERED) {
			ktls_tx_dev_netdev_gone(dev);
			ktls_dev_drop(dev);
		}
		break;
	case NETDEV_DOWN:
		/* Its connections continue in software (tx_dev.c). */
		ktls_tx_dev_netdev_gone(dev);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block ktls_dev_notifier = {
	.notifier_call = ktls_dev_event,
};

static const char *ktls_dev_onoff(const struct net_device *dev,
				  netdev_features_t feature)
{
	return READ_ONCE(dev->features) & feature ? "on" : "off";
}

static int ktls_dev_show(struct seq_file *seq, void *v)
{
	struct net *net = seq_file_single_net(seq);
	struct ktls_dev *kd;

	rcu_read_lock();
	list_for_each_entry_rcu(kd, &ktls_dev_list, node) {
		const struct ktls_dev_ops *ops = kd->ops;
		struct net_device *dev = kd->dev;

		if (!net_eq(dev_net(dev), net))
			continue;
		seq_printf(seq, "%s ifindex=%d tx=%s rx=%s tx_versions=%#x tx_ciphers=%#x rx_versions=%#x rx_ciphers=%#x\n",
			   dev->name, dev->ifindex,
			   ktls_dev_onoff(dev, NETIF_F_HW_TLS_TX),
			   ktls_dev_onoff(dev, NETIF_F_HW_TLS_RX),
			   ops->tx.versions, ops->tx.ciphers,
			   ops->rx.versions, ops->rx.ciphers);
	}
	rcu_read_unlock();
	return 0;
}

static int __net_init ktls_dev_net_init(struct net *net)
{
	if (!proc_create_net_single("ktls_devices", 0444, net->proc_net,
				    ktls_dev_show, NULL))
		return -ENOMEM;
	return 0;
}

static void __net_exit ktls_dev_net_exit(struct net *net)
{
	remove_proc_entry("ktls_devices", net->proc_net);
}

static struct pernet_operations ktls_dev_net_ops = {
	.init	= ktls_dev_net_init,
	.exit	= ktls_dev_net_exit,
};

int ktls_dev_init(void)
{
	int err;

	err = register_pernet_subsys(&ktls_dev_net_ops);
	if (err)
		return err;
	err = register_netdevice_notifier(&ktls_dev_notifier);
	if (err)
		unregister_pernet_subsys(&ktls_dev_net_ops);
	return err;
}

/*
 * A driver using ktls_dev_register() pins this module, and its devices
 * are gone before it unloads: the list is empty here.
 */
void ktls_dev_exit(void)
{
	unregister_netdevice_notifier(&ktls_dev_notifier);
	unregister_pernet_subsys(&ktls_dev_net_ops);
	WARN_ON(!list_empty(&ktls_dev_list));
	rcu_barrier();		/* ktls_dev_free_rcu is module code */
}
