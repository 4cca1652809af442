/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsctl - declarations shared by its files, grouped by the file that
 * defines them.
 */
#ifndef KTLSCTL_H
#define KTLSCTL_H

#define EXIT_USAGE	2

/* ktlsctl.c */
/* Print "ktlsctl: <message>" and the usage on stderr; returns EXIT_USAGE. */
int ktlsctl_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
const char *ktlsctl_version_name(unsigned int version);
const char *ktlsctl_cipher_name(unsigned int cipher);

/* sockets.c */
int ktlsctl_sockets(int argc, char **argv);

#endif /* KTLSCTL_H */
