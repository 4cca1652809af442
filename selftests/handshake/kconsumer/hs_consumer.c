// SPDX-License-Identifier: GPL-2.0
/*
 * hs_consumer - a test module that uses ktls's in-kernel handshake API
 * (kmod/handshake.h) the way NFS or NVMe-TCP would.
 *
 * Writing "start PORT" or "cancel PORT" to /proc/ktls_hs_consumer
 * connects a kernel socket to 127.0.0.1:PORT, attaches the ULP, calls
 * ktls_handshake_start() and then either waits for the callback and echoes
 * one line through ktls ("start"), or calls ktls_handshake_cancel() at
 * once ("cancel").  Reading the file gives the outcome of the last run:
 *   start=ERR calls=N status=ERR version=V cipher=C echo=OK|BAD|-
 *   cancelled=0|1 calls=N
 */
#include <linux/module.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/net.h>
#include <linux/proc_fs.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "handshake.h"

static DEFINE_MUTEX(hs_lock);		/* one run at a time */
static char hs_outcome[160] = "none\n";

struct hs_run {
	struct completion done;
	atomic_t calls;
	int status;
	struct ktls_handshake_result res;
};

static void hs_done(void *data, int status,
		    const struct ktls_handshake_result *res)
{
	struct hs_run *r = data;

	r->status = status;
	r->res = *res;
	atomic_inc(&r->calls);
	complete(&r->done);
}

static int hs_echo(struct socket *sock)
{
	static const char line[] = "hello from a kernel socket\n";
	char buf[sizeof(line)];
	struct kvec iov = { .iov_base = (void *)line, .iov_len = sizeof(line) - 1 };
	struct msghdr msg = { };
	int got = 0, n;

	n = kernel_sendmsg(sock, &msg, &iov, 1, iov.iov_len);
	if (n != iov.iov_len)
		return -EIO;
	while (got < iov.iov_len) {
		struct kvec in = { .iov_base = buf + got,
				   .iov_len = iov.iov_len - got };

		memset(&msg, 0, sizeof(msg));
		n = kernel_recvmsg(sock, &msg, &in, 1, in.iov_len, 0);
		if (n <= 0)
			return n ? n : -EPIPE;
		got += n;
	}
	return memcmp(buf, line, got) ? -EBADMSG : 0;
}

static int hs_run_one(u16 port, bool cancel)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ktls_handshake_params p = {
		.role = KTLS_ROLE_CLIENT,
		.timeout_ms = 60000,
		.server_name = "localhost",
		.done = hs_done,
	};
	struct hs_run *r;
	struct socket *sock;
	struct file *file;
	int err, echo = 1;
	bool cancelled;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	init_completion(&r->done);
	p.data = r;
	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (err)
		goto out_free;
	err = kernel_connect(sock, (struct sockaddr *)&a, sizeof(a), 0);
	if (err) {
		sock_release(sock);
		goto out_free;
	}
	file = sock_alloc_file(sock, 0, NULL);	/* owns sock from now on */
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto out_free;
	}
	err = sock->ops->setsockopt(sock, SOL_TCP, TCP_ULP,
				    KERNEL_SOCKPTR("ktls"), 4);
	if (err)
		goto out_file;

	err = ktls_handshake_start(sock, &p);
	if (cancel) {
		cancelled = !err && ktls_handshake_cancel(sock);
		/* A cancelled request must never call back; otherwise the
		 * callback has run or is about to. */
		if (!err && !cancelled)
			wait_for_completion_timeout(&r->done, 60 * HZ);
		else
			msleep(500);
		snprintf(hs_outcome, sizeof(hs_outcome),
			 "start=%d cancelled=%d calls=%d\n", err, cancelled,
			 atomic_read(&r->calls));
		goto out_file;
	}
	if (!err && !wait_for_completion_timeout(&r->done, 90 * HZ)) {
		/* The kernel's own 60 s timeout should have fired; make
		 * sure no callback can reach r after we free it. */
		err = -ETIMEDOUT;
		if (!ktls_handshake_cancel(sock))
			wait_for_completion(&r->done);
	}
	if (!err && !r->status)
		echo = hs_echo(sock);
	msleep(100);		/* a second callback would show here */
	snprintf(hs_outcome, sizeof(hs_outcome),
		 "start=%d calls=%d status=%d version=%x cipher=%u echo=%s\n",
		 err, atomic_read(&r->calls), r->status, r->res.version,
		 r->res.cipher, echo == 1 ? "-" : echo ? "BAD" : "OK");
out_file:
	fput(file);
out_free:
	/* After fput the request is finished (cancelled at the latest by
	 * the close), so no callback can still reach r. */
	kfree(r);
	return err;
}

static ssize_t hs_write(struct file *f, const char __user *ubuf,
			size_t len, loff_t *pos)
{
	char buf[32], cmd[8];
	unsigned int port;
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%7s %u", cmd, &port) != 2 || !port || port > 65535)
		return -EINVAL;
	if (strcmp(cmd, "start") && strcmp(cmd, "cancel"))
		return -EINVAL;
	mutex_lock(&hs_lock);
	err = hs_run_one(port, !strcmp(cmd, "cancel"));
	mutex_unlock(&hs_lock);
	return err < 0 && err != -ETIMEDOUT ? err : len;
}

static ssize_t hs_read(struct file *f, char __user *ubuf, size_t len,
		       loff_t *pos)
{
	ssize_t n;

	mutex_lock(&hs_lock);
	n = simple_read_from_buffer(ubuf, len, pos, hs_outcome,
				    strlen(hs_outcome));
	mutex_unlock(&hs_lock);
	return n;
}

static const struct proc_ops hs_ops = {
	.proc_read	= hs_read,
	.proc_write	= hs_write,
	.proc_lseek	= default_llseek,
};

static int __init hs_init(void)
{
	return proc_create("ktls_hs_consumer", 0600, NULL, &hs_ops) ?
	       0 : -ENOMEM;
}

static void __exit hs_exit(void)
{
	remove_proc_entry("ktls_hs_consumer", NULL);
}

module_init(hs_init);
module_exit(hs_exit);
MODULE_DESCRIPTION("ktls test: the in-kernel handshake API");
MODULE_LICENSE("GPL");
