# SPDX-License-Identifier: GPL-2.0
#
# ktls top-level Makefile.
#
#   make            build kmod/ktls.ko and the userspace test programs
#   make check      install what is missing, build, run every test in the VM
#   make demo       install what is missing, build, move a file through ktls
#   make install    install ktls.ko into /lib/modules (INSTALL_MOD_PATH honoured)
#   make clean
#
# KDIR selects the kernel build tree.  The default is the Debian 6.1 headers
# matching the kernel the VM boots (resolved by scripts/deps); for the
# running kernel of a real host: make KDIR=/lib/modules/$(uname -r)/build

KTLS_CACHE ?= /var/cache/ktls
export KTLS_CACHE
KVER := $(shell cat $(KTLS_CACHE)/kver 2>/dev/null)
KDIR ?= /usr/src/linux-headers-$(KVER)

.PHONY: all kmod selftests deps check demo install clean

all: kmod selftests

kmod:
	@test -d "$(KDIR)" || { echo "KDIR '$(KDIR)' not found: run scripts/deps or set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmod W=1 modules

selftests:
	$(MAKE) -C selftests

deps:
	scripts/deps

check: deps
	$(MAKE) all
	scripts/check

demo: deps
	$(MAKE) all
	scripts/demo

install: kmod
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmod modules_install

clean:
	-test -d "$(KDIR)" && $(MAKE) -C $(KDIR) M=$(CURDIR)/kmod clean
	$(MAKE) -C selftests clean

# The suite and the fault-injection test on a debug kernel (KASAN, lockdep,
# kmemleak, fault injection) that scripts/debug-kernel builds once per
# machine (~20-25 min); ktls.ko is built against it in build/debug-kmod/.
.PHONY: check-debug
check-debug: deps
	$(MAKE) selftests
	$(MAKE) -C selftests/fault
	scripts/check-debug
