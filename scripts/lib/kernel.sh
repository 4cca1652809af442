# shellcheck shell=bash disable=SC2034
# SPDX-License-Identifier: GPL-2.0
#
# scripts/lib/kernel.sh - which Debian 12 kernel line a script works with.
# Source it (bash) after setting REPO and KTLS_CACHE; the top Makefile
# mirrors the same mapping.
#
# KTLS_KERNEL picks the line: 6.1 (default), Debian 12's stock kernel, or
# 6.12, Debian 12's linux-image-6.12.*+deb12-amd64 (bookworm-security).
#
#   kt_kernel_line LINE   validates LINE and sets, for it:
#     KT_KERNEL_LINE  6.1 or 6.12 (not KT_LINE: that is the summary line
#                   test.sh's kt_parse_summary sets, which once replaced
#                   this one and left bench and mutants out of make check)
#     KT_KVER_FILE  where scripts/deps writes the ABI version it resolved
#                   ($KTLS_CACHE/kver for 6.1, $KTLS_CACHE/kver-6.12)
#     KT_KMOD       the folder ktls.ko is built in: kmod/ for 6.1;
#                   build/kernel-6.12/kmod/ (a copy of the sources, so that
#                   6.1's objects are not clobbered) for 6.12
#   kt_kernel_headers KVER  prints the headers (KDIR) of KVER for the line
#                   set last: Debian's installed headers for 6.1; those
#                   scripts/deps unpacked into the cache for 6.12
# Returns 2 with a message on stderr for an unknown line.

kt_kernel_line() {
	case $1 in
	6.1)
		KT_KERNEL_LINE=6.1
		KT_KVER_FILE=$KTLS_CACHE/kver
		KT_KMOD=$REPO/kmod
		;;
	6.12)
		KT_KERNEL_LINE=6.12
		KT_KVER_FILE=$KTLS_CACHE/kver-6.12
		KT_KMOD=$REPO/build/kernel-6.12/kmod
		;;
	*)
		printf 'KTLS_KERNEL must be 6.1 or 6.12, got "%s"\n' "$1" >&2
		return 2
		;;
	esac
}

kt_kernel_headers() {
	if [ "$KT_KERNEL_LINE" = 6.1 ]; then
		echo "/usr/src/linux-headers-$1"
	else
		echo "$KTLS_CACHE/headers-$1/usr/src/linux-headers-$1"
	fi
}
