// SPDX-License-Identifier: GPL-2.0
/*
 * ktlsd - logging: syslog (daemon facility), or stderr with -d.  Lines
 * name the request they concern; they never carry key material.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ktlsd.h"

static bool log_stderr;
static bool log_verbose;

void log_init(bool to_stderr, bool debug)
{
	log_stderr = to_stderr;
	log_verbose = debug;
	if (!to_stderr)
		openlog("ktlsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void log_v(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (suffix && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", suffix);
	if (log_stderr)
		fprintf(stderr, "ktlsd[%d]: %s\n", (int)getpid(), line);
	else
		syslog(prio, "%s", line);
}

#define LOG_FN(name, prio)					\
void name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_v(prio, NULL, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_err, LOG_ERR)

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_v(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void log_errno(const char *fmt, ...)
{
	const char *msg = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_ERR, msg, fmt, ap);
	va_end(ap);
}
