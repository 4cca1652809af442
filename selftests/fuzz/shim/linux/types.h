/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-in for the kernel's <linux/types.h>, first on the
 * include path of selftests/fuzz: kmod/record.h and kmod/rx_parse.c build
 * unchanged against it.  It adds the kernel's own integer names to the
 * uapi header (__u8, __u16...) that the system's <linux/tls.h> needs.
 */
#ifndef _KTLS_SHIM_LINUX_TYPES_H
#define _KTLS_SHIM_LINUX_TYPES_H

#include_next <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#endif /* _KTLS_SHIM_LINUX_TYPES_H */
