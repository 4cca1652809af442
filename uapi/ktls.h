/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ktls - user API beyond what <linux/tls.h> of a 6.1 kernel declares.
 *
 * ktls speaks the kernel kTLS API: attach the ULP with
 *	setsockopt(fd, SOL_TCP, TCP_ULP, "ktls", 4);
 * then use the SOL_TLS options and cmsgs of <linux/tls.h>.  (NIC drivers
 * offering TLS offload to ktls use the kernel-internal kmod/ktls_dev.h,
 * Documentation/offload.md; nothing of it is user API.)  This header
 * adds the options that newer kernels define and 6.1's headers lack, with
 * the same numbers, so a program built against either header works.
 *
 * SOL_TLS options (setsockopt and getsockopt):
 *
 *   TLS_TX, TLS_RX (1, 2)	struct tls12_crypto_info_*, see <linux/tls.h>.
 *				On TLS 1.3 a second call installs the next key
 *				(KeyUpdate, as in Linux >= 6.14): same version
 *				and cipher or EINVAL; TLS 1.2: EBUSY.  After a
 *				received KeyUpdate record (delivered as a
 *				handshake record, cmsg TLS_GET_RECORD_TYPE
 *				22), reads fail with EKEYEXPIRED and poll shows
 *				no POLLIN until TLS_RX installs the peer's next
 *				key; TX never pauses (an open record is sealed
 *				under the old key).
 *   TLS_TX_ZEROCOPY_RO (3)	int 0/1: the application promises not to
 *				modify files while sendfile() sends them, so
 *				an offloading device may send page-cache pages
 *				without a bounce copy.  Accepted and reported
 *				at any time; the software path always encrypts
 *				a copy, so it changes nothing there.
 *   TLS_TX_MAX_PAYLOAD_LEN (5)	__u16, 64..16384: the largest plaintext per
 *				TX record (for TLS 1.3 a peer's
 *				record_size_limit - 1).  EINVAL outside that
 *				range or with a size other than 2 bytes;
 *				EBUSY while a record is open (MSG_MORE data not
 *				yet sent).  getsockopt returns the current
 *				value (16384 by default).
 */
#ifndef _UAPI_KTLS_H
#define _UAPI_KTLS_H

#include <linux/types.h>
#include <linux/tls.h>

#ifndef SOL_TLS
#define SOL_TLS			282
#endif

#ifndef TLS_TX_ZEROCOPY_RO
#define TLS_TX_ZEROCOPY_RO	3
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD	4
#endif
#ifndef TLS_TX_MAX_PAYLOAD_LEN
#define TLS_TX_MAX_PAYLOAD_LEN	5
#endif

/* TLS 1.3 handshake message type of a KeyUpdate (RFC 8446, 4.6.3). */
#define KTLS_HANDSHAKE_KEY_UPDATE	24

#define KTLS_MIN_RECORD_PAYLOAD	64
#define KTLS_MAX_RECORD_PAYLOAD	16384

#endif /* _UAPI_KTLS_H */
