/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls - the differences between the kernels ktls builds for.
 *
 * ktls.ko and ktls_sim.ko build from one tree for Debian 12's two kernel
 * lines, 6.1 and 6.12.  Every comparison with LINUX_VERSION_CODE lives in
 * this file, each under a comment naming the kernel change that forces it.
 * The rest of the module uses the helpers below, and a KTLS_COMPAT_* name
 * where a whole function or table entry exists on one side only.
 *
 * On 6.1 each helper's body is the call the module made before this file
 * existed, so that path is unchanged.
 */
#ifndef _KTLS_COMPAT_H
#define _KTLS_COMPAT_H

#include <linux/version.h>
#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/netdevice.h>
#include <linux/pipe_fs_i.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/tcp.h>

/*
 * TX: handing a record's pages to TCP.
 *
 * Linux 6.5 removed ->sendpage from struct proto and struct proto_ops
 * (and ->sendpage_locked), do_tcp_sendpages() and MSG_SENDPAGE_NOTLAST
 * ("net: Remove ->sendpage() in favour of sendmsg(MSG_SPLICE_PAGES)").
 * Since then sendfile() and splice() reach the socket through sendmsg with
 * MSG_SPLICE_PAGES and a bvec iterator, "more follows" is MSG_MORE, and a
 * kernel sender hands pages to TCP through tcp_sendmsg_locked() with
 * MSG_SPLICE_PAGES, which takes TCP's own reference on each page frag (as
 * do_tcp_sendpages() did).
 *
 * KTLS_COMPAT_SENDPAGE   defined where ->sendpage exists (6.1)
 * KTLS_MSG_MORE_IN       flags of a call into ktls meaning the caller has
 *                        more for the same record
 * KTLS_MSG_MORE_TCP      the flag telling TCP that more data follows at once
 * KTLS_MSG_SPLICE_IN     sendmsg flags only splice uses (6.12), accepted
 *                        and ignored: the data is copied into the record
 * ktls_tcp_send_page()   hand @len bytes of @page at @off to TCP; the
 *                        socket lock is held; bytes taken or -errno
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)

#define KTLS_COMPAT_SENDPAGE	1
#define KTLS_MSG_MORE_IN	(MSG_MORE | MSG_SENDPAGE_NOTLAST)
#define KTLS_MSG_MORE_TCP	MSG_SENDPAGE_NOTLAST
#define KTLS_MSG_SPLICE_IN	0

static inline ssize_t ktls_tcp_send_page(struct sock *sk, struct page *page,
					 int off, size_t len, int flags)
{
	return do_tcp_sendpages(sk, page, off, len, flags);
}

#else

#define KTLS_MSG_MORE_IN	MSG_MORE
#define KTLS_MSG_MORE_TCP	MSG_MORE
#define KTLS_MSG_SPLICE_IN	(MSG_SPLICE_PAGES | MSG_SENDPAGE_NOPOLICY)

static inline ssize_t ktls_tcp_send_page(struct sock *sk, struct page *page,
					 int off, size_t len, int flags)
{
	struct msghdr msg = { .msg_flags = MSG_SPLICE_PAGES | flags };
	struct bio_vec bvec;

	bvec_set_page(&bvec, page, len, off);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, len);
	return tcp_sendmsg_locked(sk, &msg, len);
}

#endif

/*
 * RX: splice(2) from the socket into a pipe.
 *
 * Linux 6.5 removed the pipe-backed iov_iter (iov_iter_pipe(), ITER_PIPE;
 * "iov_iter: Kill ITER_PIPE"); a ->splice_read that copies now fills pages
 * of its own through a bvec iterator and adds them to the pipe.
 *
 * ktls_splice_to_pipe() runs @fill (which reads up to @len bytes into the
 * message's iterator, with the flags given) so that what it reads lands
 * in @pipe, and returns what @fill returned: bytes placed, or -errno.
 * The splice core holds the pipe lock and has capped @len at the room in
 * the pipe.  On 6.1 the iterator allocates the pipe's pages as it fills
 * them, and a page it cannot allocate cuts @fill's copy short; on 6.12 the
 * pages are allocated first, and @len shrinks to those that could be
 * (-ENOMEM without any).
 */
typedef int (*ktls_splice_fill_t)(struct sock *sk, struct msghdr *msg,
				  size_t len, int flags);

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)

static inline ssize_t ktls_splice_to_pipe(struct sock *sk,
					  struct pipe_inode_info *pipe,
					  size_t len, int flags,
					  ktls_splice_fill_t fill)
{
	struct msghdr msg = {};

	iov_iter_pipe(&msg.msg_iter, ITER_DEST, pipe, len);
	return fill(sk, &msg, len, flags);
}

#else

ssize_t ktls_splice_to_pipe(struct sock *sk, struct pipe_inode_info *pipe,
			    size_t len, int flags, ktls_splice_fill_t fill);

#endif

/*
 * Installing the handshake socket's descriptor in the agent (netlink.c).
 *
 * Linux 6.8 gave receive_fd() the __user pointer argument of the
 * __receive_fd() it replaced ("file: remove __receive_fd()").
 */
static inline int ktls_receive_fd(struct file *file, unsigned int o_flags)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
	return receive_fd(file, o_flags);
#else
	return receive_fd(file, NULL, o_flags);
#endif
}

/*
 * Lockless transmit for a virtual device (ktls_sim.c).
 *
 * Linux 6.12 replaced the NETIF_F_LLTX feature bit with the private flag
 * dev->lltx ("netdev_features: convert NETIF_F_LLTX to dev->lltx").
 */
static inline void ktls_netdev_set_lltx(struct net_device *dev)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
	dev->features |= NETIF_F_LLTX;
#else
	dev->lltx = true;
#endif
}

#endif /* _KTLS_COMPAT_H */
