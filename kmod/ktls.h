/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls - private declarations shared by the files of ktls.ko.
 *
 * Object model:
 *
 *   struct sock (TCP)
 *     icsk_ulp_data -> struct ktls_ctx      one per socket with the ULP
 *                        .tx  struct ktls_tx   (TX record state + crypto)
 *                        .rx  struct ktls_rx   (RX parser state + crypto)
 *                        .tx_ops / .rx_ops     per-direction data path
 *
 * Each direction runs through an ops table (struct ktls_tx_ops,
 * struct ktls_rx_ops): init, rekey, the data calls, poll, release and its
 * counters.  sockopt.c picks the table when a direction gets its key and
 * ulp.c attaches it; neither knows more of it.  The software path (tx_sw.c,
 * rx_sw.c) is the only one today; an offload path plugs in beside it by
 * providing its own tables.
 *
 * Locking (the order never varies):
 *
 *   ctx->tx_lock (mutex)   serialises every TX writer: sendmsg, sendpage,
 *                          splice_eof, shutdown's drain and the deferred
 *                          push work.  A writer may sleep waiting for
 *                          socket memory, which drops the socket lock;
 *                          tx_lock keeps a second writer from starting a
 *                          record in the middle of ours.  The workers
 *                          encrypting records (tx_sw.c) take no lock: a
 *                          record in CRYPT state is theirs alone.
 *   rx.reader              not a lock but used as one, under the socket
 *                          lock: set for the whole of a recvmsg or splice,
 *                          which may sleep for data with the socket lock
 *                          released; a second reader waits on
 *                          rx.reader_wq (or gets EAGAIN without a timeout).
 *   socket lock            (lock_sock) protects all of struct ktls_tx and
 *                          struct ktls_rx.  The RX parser also runs from
 *                          sk_data_ready, where the socket is either
 *                          bh-locked and not owned, or owned by the task
 *                          that is processing the backlog; both exclude
 *                          every other user of the RX state.
 *   sk->sk_callback_lock   taken to swap sk_data_ready / sk_write_space /
 *                          sk_prot / socket ops on attach and close.
 *
 * Lockless readers: poll reads rx.ready, rx.err and rx.pt_len with
 * READ_ONCE; writers use WRITE_ONCE.
 */
#ifndef _KTLS_H
#define _KTLS_H

#include <linux/types.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/completion.h>
#include <linux/scatterlist.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/tls.h>
#include <crypto/aead.h>
#include <net/sock.h>
#include <net/inet_connection_sock.h>

#include <ktls.h>		/* uapi/ktls.h */
#include "record.h"	/* constants, record layout, rx_parse.c */
#include "handshake.h"	/* the upcall's in-kernel API */
#include "ktls_dev.h"	/* the NIC drivers' interface */
#include "compat.h"	/* the differences between kernels */

#define KTLS_ULP_NAME		"ktls"
/* The in-tree module's name, also answered with ulp_tls_alias=1 (ulp.c). */
#define KTLS_ULP_TLS_NAME	"tls"

/* Room for the largest record we accept, header included: it is staged
 * here when it cannot stay in the TCP queue, and decrypted in place. */
#define KTLS_RX_BUF_SIZE	(KTLS_HEADER_SIZE + KTLS_SEQ_SIZE + \
				 KTLS_MAX_PAYLOAD + 1 + KTLS_TAG_MAX)
/* Source entries for decrypting straight from the TCP queue's skbs; a
 * record more fragmented than this is copied out first. */
#define KTLS_RX_SG_MAX		(2 * (MAX_SKB_FRAGS + 1))
#define KTLS_RX_BUF_PAGES	DIV_ROUND_UP(KTLS_RX_BUF_SIZE, PAGE_SIZE)
/* Pieces of a reader's buffer a zero-copy receive maps; a record needing
 * more takes the copying path. */
#define KTLS_RX_ZC_SG		8

/* Crypto state of one direction. */
struct ktls_dir {
	struct crypto_aead *aead;
	struct aead_request *req;	/* RX: on demand (ktls_dir_get_req) */
	struct crypto_wait wait;
	u8 aad[KTLS_AAD_MAX];
	u8 nonce[KTLS_NONCE_SIZE];	/* salt || iv, iv advanced for 1.2 */
	u8 seq[KTLS_SEQ_SIZE];		/* next record sequence number */
	bool exhausted;			/* seq wrapped: no record may follow */
	/* What setsockopt installed; getsockopt returns it with the current
	 * iv and seq.  Holds the key: wiped on free. */
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 gcm128;
		struct tls12_crypto_info_aes_gcm_256 gcm256;
		struct tls12_crypto_info_aes_ccm_128 ccm128;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
		struct tls12_crypto_info_sm4_gcm sm4_gcm;
		struct tls12_crypto_info_sm4_ccm sm4_ccm;
		struct tls12_crypto_info_aria_gcm_128 aria128;
		struct tls12_crypto_info_aria_gcm_256 aria256;
	} info;
};

/* A contiguous piece of a TX record; holds one page reference. */
struct ktls_frag {
	struct page *page;
	u32 off;
	u32 len;
};

#define KTLS_TX_FRAGS	16

/* Records in flight per socket: open, with the worker, or sealed. */
#define KTLS_TX_RECS	4

struct ktls_tx;

/* One TX record (tx_sw.c has its life); allocated on first use. */
struct ktls_tx_rec {
	struct ktls_frag frags[KTLS_TX_FRAGS];
	struct scatterlist sg[KTLS_TX_FRAGS + 1];
	struct ktls_tx *tx;
	struct aead_request *req;	/* for tx->d.aead; dropped on rekey */
	struct crypto_wait wait;
	struct work_struct work;	/* encrypts it on ktls_tx_wq */
	u8 aad[KTLS_AAD_MAX];
	u8 iv[KTLS_IV_MAX];		/* wiped once encrypted */
	u8 nfrags;
	u8 type;			/* content type */
	u8 state;			/* KTLS_REC_*, see tx_sw.c */
	u32 len;			/* plaintext bytes */
	u32 plain;			/* bytes encrypted: len + inner type */
	u32 push_frag;			/* sealed: next frag to hand to TCP */
	u32 push_off;			/* sealed: offset inside that frag */
	int err;			/* the worker's encryption result */
	/* Device mode: what is kept of it for the NIC once its first
	 * byte goes to TCP (tx_dev.c); allocated when it is sealed, handed
	 * to tx_dev.c then. */
	struct ktls_tx_dev_rec *keep;
};

struct ktls_tx {
	struct ktls_dir d;
	struct page_frag pfrag;		/* pages records are built in */
	/* Ring of records, oldest (next to push) at head. */
	struct ktls_tx_rec *recs[KTLS_TX_RECS];
	u8 head;
	u8 count;
	/* The record last given to the worker (maybe done by now). */
	struct ktls_tx_rec *crypt_busy;
	bool in_push;		/* a writer is pushing: inside
				 * ktls_tcp_send_page() or waiting for room */
	bool close_later;	/* the open record failed to close (memory) */
	bool fin_pending;	/* shutdown(SHUT_WR) came while records were
				 * short of TCP: the FIN follows them */
	long timeo;		/* the writer's send timeout left (jiffies) */
	int err;		/* sticky, negative */
	/* Device mode (tx_dev.c): records go to TCP in plaintext, for the
	 * NIC to encrypt.  NULL: software. */
	struct ktls_tx_dev *dev;
	/* Finishes a push: after write_space, or retries one that failed
	 * for memory while TCP had room (tx_push_later). */
	struct delayed_work work;
};

struct ktls_rx {
	struct ktls_dir d;
	/* Parser: the record at the head of the stream. */
	u32 rec_len;		/* whole record incl. header; 0 = unknown */
	u32 staged;		/* bytes of it copied into buf and consumed
				 * from TCP; 0 = it is still in the TCP queue */
	bool ready;		/* the whole record is available */
	bool key_expired;	/* a KeyUpdate was read: no record is parsed
				 * or decrypted until a new TLS_RX key */
	bool stopped;		/* a malformed header: nothing more is
				 * parsed (rx_sw.c, rx_stop) */
	int err;		/* sticky, negative */
	/* One record's worth of pages: a staged record, decrypted in place,
	 * or the plaintext of a record decrypted out of the TCP queue.
	 * Allocated on demand, freed when the socket has nothing to read
	 * (rx_sw.c); stage_work retries an allocation softirq could not do. */
	struct page *pages[KTLS_RX_BUF_PAGES];
	struct scatterlist sg_dst[KTLS_RX_BUF_PAGES + 1];
	struct scatterlist *sg_src;	/* KTLS_RX_SG_MAX + 1 entries */
	struct work_struct stage_work;
	u32 buf_dirty;		/* bytes of the buffer written since allocated */
	u32 pt_off;		/* plaintext still to deliver: buf offset */
	u32 pt_len;		/* and length */
	u8 pt_type;
	/* Records that MSG_PEEK decrypted ahead of the reader, oldest first,
	 * all older than pt: delivered before it.  held_bytes (their
	 * plaintext left) is read locklessly by poll. */
	struct list_head held;
	u32 held_bytes;
	/* A reader is inside recvmsg/splice, perhaps sleeping with the
	 * socket lock released; others wait on reader_wq (rx_sw.c). */
	bool reader;
	wait_queue_head_t reader_wq;
	bool no_pad;		/* TLS_RX_EXPECT_NO_PAD */
	bool zc_padded;		/* TLS 1.3: the peer padded a record; stop
				 * guessing zero-copy unless no_pad */
	u8 zc_tail;		/* TLS 1.3 inner type of a zero-copy decrypt */
};

/* A decrypted record set aside by MSG_PEEK (rx_sw.c). */
struct ktls_rx_rec {
	struct list_head list;
	u32 off;		/* next byte to deliver */
	u32 len;		/* bytes left */
	u8 type;
	u8 data[];
};

/* stats.c */
enum ktls_stat {
	KTLS_STAT_CURR_TX_SW,
	KTLS_STAT_CURR_RX_SW,
	KTLS_STAT_CURR_TX_DEVICE,
	KTLS_STAT_CURR_RX_DEVICE,
	KTLS_STAT_TX_SW,
	KTLS_STAT_RX_SW,
	KTLS_STAT_TX_DEVICE,
	KTLS_STAT_RX_DEVICE,
	KTLS_STAT_DECRYPT_ERROR,
	KTLS_STAT_RX_DEVICE_RESYNC,
	KTLS_STAT_DECRYPT_RETRY,
	KTLS_STAT_RX_NO_PAD_VIOLATION,
	KTLS_STAT_RX_REKEY_OK,
	KTLS_STAT_RX_REKEY_ERROR,
	KTLS_STAT_TX_REKEY_OK,
	KTLS_STAT_TX_REKEY_ERROR,
	KTLS_STAT_RX_REKEY_RECEIVED,
	KTLS_STAT_RX_SESSION_TICKET,
	KTLS_STAT_TX_ASYNC,
	KTLS_STAT_TX_ASYNC_RECLAIMED,
	KTLS_STAT_TX_FIN_DEFERRED,
	KTLS_STAT_TX_CLOSE_RESET,
	KTLS_STAT_TX_DEVICE_REFUSED,
	KTLS_STAT_TX_DEVICE_FALLBACK,
	KTLS_STAT_NUM,
};

struct ktls_ctx;

/*
 * A direction's data path.  sockopt.c picks the table when the direction
 * gets its first key (ktls_tx_pick/ktls_rx_pick), calls init, and ulp.c
 * attaches it (ktls_ulp_attach_tx/rx): the socket's callbacks and proto
 * table then lead here.  Nothing outside the path's own file knows which
 * one a socket uses.  Locks held by the callers are given per entry.
 */
struct ktls_tx_ops {
	u8 conf;			/* enum ktls_conf it runs as */
	enum ktls_stat stat_new;	/* counts sockets set up (TlsTxSw) */
	enum ktls_stat stat_curr;	/* and those open (TlsCurrTxSw) */
	/* tx_lock and the socket lock held (setsockopt). */
	int (*init)(struct sock *sk, struct ktls_ctx *ctx);
	int (*rekey)(struct sock *sk, struct ktls_ctx *ctx,
		     const struct tls_crypto_info *info);
	bool (*open)(const struct ktls_ctx *ctx);	/* a record has data */
	/* No lock held: each takes what it needs. */
	int (*sendmsg)(struct sock *sk, struct msghdr *msg, size_t size);
#ifdef KTLS_COMPAT_SENDPAGE
	int (*sendpage)(struct sock *sk, struct page *page, int offset,
			size_t size, int flags);
#endif
	void (*flush)(struct sock *sk);		/* splice_eof */
	/* shutdown(SHUT_WR): closed records to TCP ahead of the FIN; true
	 * if the FIN must wait for them (the path sends it itself). */
	bool (*drain)(struct sock *sk);
	void (*write_space)(struct sock *sk);	/* sk_write_space */
	/* At close: release with tx_lock and the socket lock held, free
	 * once the socket is detached, with none. */
	void (*release)(struct sock *sk, struct ktls_ctx *ctx);
	void (*free)(struct ktls_ctx *ctx);
};

struct ktls_rx_ops {
	u8 conf;			/* enum ktls_conf it runs as */
	enum ktls_stat stat_new;	/* TlsRxSw */
	enum ktls_stat stat_curr;	/* TlsCurrRxSw */
	/* tx_lock and the socket lock held (setsockopt). */
	int (*init)(struct sock *sk, struct ktls_ctx *ctx);
	int (*rekey)(struct sock *sk, struct ktls_ctx *ctx,
		     const struct tls_crypto_info *info);
	/* No lock held. */
	int (*recvmsg)(struct sock *sk, struct msghdr *msg, size_t len,
		       int flags, int *addr_len);
	ssize_t (*splice_read)(struct sock *sk, struct pipe_inode_info *pipe,
			       size_t len, unsigned int flags);
	__poll_t (*poll)(struct file *file, struct socket *sock,
			 struct poll_table_struct *wait);
	bool (*readable)(struct ktls_ctx *ctx);	/* lockless */
	/* sk_data_ready: the socket owned, or bh-locked from softirq. */
	void (*data_ready)(struct sock *sk);
	void (*free)(struct ktls_ctx *ctx);	/* detached, no lock */
};

enum ktls_conf {
	KTLS_CONF_BASE,		/* direction not configured: plain TCP */
	KTLS_CONF_SW,		/* software record layer */
	KTLS_CONF_HW,		/* records built here, crypto on the NIC */
	KTLS_CONF_NUM,
};

struct ktls_ctx {
	struct sock *sk;
	u8 tx_conf;		/* enum ktls_conf */
	u8 rx_conf;
	bool zerocopy_ro;	/* TLS_TX_ZEROCOPY_RO */
	u16 tx_max_payload;	/* TLS_TX_MAX_PAYLOAD_LEN */
	struct ktls_prot prot;	/* shared: TX and RX must agree */
	const struct ktls_tx_ops *tx_ops;
	const struct ktls_rx_ops *rx_ops;
	struct mutex tx_lock;
	struct ktls_tx tx;
	struct ktls_rx rx;

	/* What the socket had before we attached. */
	struct proto *sk_proto;
	const struct proto_ops *sk_ops;
	void (*sk_data_ready)(struct sock *sk);
	void (*sk_write_space)(struct sock *sk);

	/* The socket's latest handshake request (handshake.c): set and
	 * cleared under the socket lock, read locklessly by the gate. */
	struct ktls_hs_req *hs;

	struct rcu_head rcu;
};

/*
 * Memory a socket pins for its owner (records, receive buffers, peeked
 * plaintext, requests) is charged to the owner's memory cgroup: allocated
 * with KTLS_GFP_ACCOUNT between ktls_memcg_enter() and ktls_memcg_exit(),
 * which make the socket's memcg the active one.  That also covers softirq
 * (which charges nobody otherwise) and workers (which would charge the
 * root).  Without cgroup v2 socket accounting sk_memcg is NULL: process
 * context then charges the caller's memcg, softirq nobody.
 */
#define KTLS_GFP_ACCOUNT	__GFP_ACCOUNT

static inline struct mem_cgroup *ktls_memcg_enter(const struct sock *sk)
{
	return set_active_memcg(sk->sk_memcg);
}

static inline void ktls_memcg_exit(struct mem_cgroup *old)
{
	set_active_memcg(old);
}

static inline struct ktls_ctx *ktls_get_ctx(const struct sock *sk)
{
	/* The ULP owns icsk_ulp_data; the pointer is stable from attach to
	 * close, and close runs with no other user of the socket left. */
	return (__force struct ktls_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* ulp.c */
int ktls_ulp_register(void);
void ktls_ulp_unregister(void);
void ktls_switch_proto(struct sock *sk, struct ktls_ctx *ctx);
void ktls_ulp_attach_tx(struct sock *sk, struct ktls_ctx *ctx,
			const struct ktls_tx_ops *ops);
void ktls_ulp_attach_rx(struct sock *sk, struct ktls_ctx *ctx,
			const struct ktls_rx_ops *ops);
void ktls_err_abort(struct sock *sk, int err);

/* sockopt.c */
int ktls_setsockopt(struct sock *sk, int level, int optname,
		    sockptr_t optval, unsigned int optlen);
int ktls_getsockopt(struct sock *sk, int level, int optname,
		    char __user *optval, int __user *optlen);

/* cipher.c */
const struct ktls_cipher *ktls_cipher_find(u16 type);
int ktls_prot_init(struct ktls_prot *prot, u16 version,
		   const struct ktls_cipher *cipher);
int ktls_dir_init(struct ktls_dir *d, const struct ktls_prot *prot,
		  const struct tls_crypto_info *info);
int ktls_dir_rekey(struct ktls_dir *d, const struct ktls_prot *prot,
		   const struct tls_crypto_info *info);
int ktls_dir_get_req(struct ktls_dir *d, const struct ktls_prot *prot,
		     gfp_t gfp);
void ktls_dir_put_req(struct ktls_dir *d);
void ktls_dir_free(struct ktls_dir *d);
void ktls_dir_nonce(const struct ktls_dir *d, const struct ktls_prot *prot,
		    u8 *nonce);
void ktls_req_iv(const struct ktls_prot *prot, const u8 *nonce, u8 *iv);
int ktls_dir_advance(struct ktls_dir *d, const struct ktls_prot *prot);
void ktls_dir_aad(struct ktls_dir *d, const struct ktls_prot *prot,
		  u8 type, u32 plain_len, const u8 *header);
void ktls_dir_export(const struct ktls_dir *d, const struct ktls_prot *prot,
		     struct tls_crypto_info *out);

/* tx_sw.c */
extern const struct ktls_tx_ops ktls_tx_sw_ops;
extern const struct ktls_tx_ops ktls_tx_dev_ops;
int ktls_tx_sw_wq_init(void);
void ktls_tx_sw_wq_exit(void);

/*
 * tx_dev.c: the device mode of the TX record layer.  It needs the kernel's
 * TLS offload hooks (skb->decrypted, clean_acked); without
 * CONFIG_TLS_DEVICE every direction runs in software.
 */
struct ktls_tx_dev;
struct ktls_tx_dev_rec;
struct ktls_dev;
#if IS_ENABLED(CONFIG_TLS_DEVICE)
int ktls_tx_dev_start(struct sock *sk, struct ktls_ctx *ctx,
		      struct ktls_dev *kd);
struct ktls_tx_dev_rec *ktls_tx_dev_rec_alloc(struct sock *sk);
void ktls_tx_dev_rec_free(struct ktls_tx_dev_rec *e);
void ktls_tx_dev_rec_sealed(struct ktls_tx_dev_rec *e, const u8 *rec_seq);
void ktls_tx_dev_rec_pushed(struct ktls_tx_dev *txd, struct ktls_tx_dev_rec *e,
			    u32 seq, const struct ktls_frag *frags,
			    unsigned int nfrags);
bool ktls_tx_dev_closed(struct sock *sk, struct ktls_ctx *ctx);
void ktls_tx_dev_netdev_gone(struct net_device *dev);
int ktls_tx_dev_init(void);
void ktls_tx_dev_exit(void);
#else
void ktls_dev_put(struct ktls_dev *kd);
static inline int ktls_tx_dev_start(struct sock *sk, struct ktls_ctx *ctx,
				    struct ktls_dev *kd)
{
	ktls_dev_put(kd);
	return -EOPNOTSUPP;
}
static inline struct ktls_tx_dev_rec *ktls_tx_dev_rec_alloc(struct sock *sk)
{
	return NULL;
}
static inline void ktls_tx_dev_rec_free(struct ktls_tx_dev_rec *e) {}
static inline void ktls_tx_dev_rec_sealed(struct ktls_tx_dev_rec *e,
					  const u8 *rec_seq) {}
static inline void ktls_tx_dev_rec_pushed(struct ktls_tx_dev *txd,
					  struct ktls_tx_dev_rec *e, u32 seq,
					  const struct ktls_frag *frags,
					  unsigned int nfrags) {}
static inline bool ktls_tx_dev_closed(struct sock *sk, struct ktls_ctx *ctx)
{
	return false;
}
static inline void ktls_tx_dev_netdev_gone(struct net_device *dev) {}
static inline int ktls_tx_dev_init(void) { return 0; }
static inline void ktls_tx_dev_exit(void) {}
#endif

/* rx_parse.c: declared in record.h */

/* rx_sw.c */
extern const struct ktls_rx_ops ktls_rx_sw_ops;

/* device.c: the registry of offload devices (see its lock rules) */
struct ktls_dev;
int ktls_dev_init(void);
void ktls_dev_exit(void);
struct ktls_dev *ktls_dev_lookup(struct sock *sk, enum ktls_dev_dir dir,
				 const struct ktls_prot *prot);
void ktls_dev_put(struct ktls_dev *kd);
struct net_device *ktls_dev_netdev(const struct ktls_dev *kd);
const struct ktls_dev_ops *ktls_dev_ops_of(const struct ktls_dev *kd);

/* diag.c */
int ktls_diag_get_info(struct sock *sk, struct sk_buff *skb);
size_t ktls_diag_get_info_size(const struct sock *sk);

/*
 * handshake.c: one handshake request (see the top of handshake.c for its
 * life and references).
 *
 * Locking: ktls_hs_lock (a spinlock, process context only) protects the
 * pending and running lists, node, state, file, agent, agent_portid,
 * status, res, notify, user, the deferred finish's fields and the
 * pending counts (per network namespace, per user).  state and agent are
 * also read locklessly (with READ_ONCE) by the gate, under rcu_read_lock
 * (requests are freed after a grace period); they change only under the
 * lock.  The socket lock protects ctx->hs.  Lock order: the socket lock,
 * then ktls_hs_lock; ktls_hs_finish() takes the socket lock and must be
 * called without either, and never from a netlink handler or notifier:
 * those defer it to ktls_hs_wq (ktls_hs_defer()), so that an application
 * holding its socket lock cannot stall the agent or generic netlink.
 */
struct ktls_hs_user;

struct ktls_hs_req {
	refcount_t ref;
	struct list_head node;		/* pending or running list */
	u32 id;
	u32 state;			/* KTLS_HS_STATE_* */
	bool notify;			/* done_cb still to be called */
	struct sock *sk;		/* held */
	struct file *file;		/* not held; pending only */
	struct pid *agent;		/* thread group of the agent, held */
	u32 agent_portid;		/* its netlink socket */
	unsigned long deadline;		/* jiffies */
	struct delayed_work timeout;
	struct completion done;		/* completed once finished */
	int status;			/* finished: 0 or negative errno */
	struct ktls_handshake_result res;
	/* Pending: the share it counts against (NULL: not counted). */
	struct ktls_hs_user *user;
	/* A finish deferred to ktls_hs_wq (off every list meanwhile). */
	struct work_struct finish_work;
	int deferred_status;		/* 0 or negative errno */
	bool deferred_abort;		/* reset the connection */
	/* What was asked, fixed at submission. */
	u32 role;
	u32 timeout_ms;
	char server_name[KTLS_HS_NAME_MAX];
	char profile[KTLS_HS_PROFILE_MAX];
	char alpn[KTLS_HS_NAME_MAX];
	/* Who asked, in the kernel's own ids (mapped for the agent at
	 * ACCEPT, netlink.c): the requester's fsuid, fsgid and
	 * supplementary groups (held), and its thread group (held; NULL for
	 * ktls_handshake_start(), where the caller is no process). */
	kuid_t uid;
	kgid_t gid;
	struct group_info *groups;
	struct pid *requester;
	void (*done_cb)(void *data, int status,
			const struct ktls_handshake_result *result);
	void *data;
	struct rcu_head rcu;		/* the gate may still be looking */
};

int ktls_handshake_init(void);
void ktls_handshake_exit(void);
bool ktls_hs_gated(const struct ktls_ctx *ctx);
bool ktls_hs_may_io(const struct sock *sk);
int ktls_hs_setsockopt(struct sock *sk, sockptr_t optval,
		       unsigned int optlen);
int ktls_hs_getsockopt(struct sock *sk, struct ktls_ctx *ctx,
		       char __user *optval, int __user *optlen);
void ktls_hs_sock_close(struct sock *sk, struct ktls_ctx *ctx);
struct ktls_hs_req *ktls_hs_accept(struct net *net, u32 portid,
				   struct file **filep);
u32 ktls_hs_time_left(const struct ktls_hs_req *req);
void ktls_hs_abandon(struct ktls_hs_req *req, int err);
int ktls_hs_done(struct net *net, u32 portid, u32 id, int status,
		 const struct ktls_handshake_result *res);
void ktls_hs_agent_gone(struct net *net, u32 portid);
void ktls_hs_put(struct ktls_hs_req *req);

/* netlink.c */
int ktls_nl_init(void);
void ktls_nl_exit(void);
bool ktls_nl_has_agent(struct net *net);
int ktls_nl_announce(struct net *net, u32 id);

/* stats.c (enum ktls_stat is above, with the ops that use it) */
int ktls_stats_init(void);
void ktls_stats_exit(void);
void ktls_stat_add(struct net *net, enum ktls_stat stat, long delta);

static inline void ktls_stat_inc(const struct sock *sk, enum ktls_stat stat)
{
	ktls_stat_add(sock_net(sk), stat, 1);
}

static inline void ktls_stat_dec(const struct sock *sk, enum ktls_stat stat)
{
	ktls_stat_add(sock_net(sk), stat, -1);
}

#endif /* _KTLS_H */
