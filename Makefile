# SPDX-License-Identifier: GPL-2.0
#
# ktls top-level Makefile.
#
#   make            build kmod/ktls.ko, kmod/sim/ktls_sim.ko (the simulated
#                   TLS NIC) and the userspace test programs
#   make check      install what is missing, build, run every test in the VM
#   make demo       install what is missing, build, move a file through ktls
#   make install    install ktls.ko into /lib/modules and kmod/ktls-modprobe.conf
#                   as /etc/modprobe.d/ktls.conf (INSTALL_MOD_PATH honoured)
#   make uninstall  remove both
#   make dkms-install   (root) ktls.ko through DKMS: the source into
#                   /usr/src/ktls-VERSION, built and installed for every
#                   kernel with headers, rebuilt for kernels installed later
#   make dkms-uninstall  remove it from DKMS and /usr/src
#   make deb        Debian packages ktls-dkms, ktlsd, libktls0, libktls-dev
#                   into build/deb/, checked with lintian
#   make check-packages  make deb, then install the packages into a fresh
#                   Debian 12 root (debootstrap; downloads) and check them
#   make bench      benchmarks side by side in the VM (build/bench/latest)
#   make bench-smoke  the same, tiny and once: proves the benchmark runs
#   make fuzz       fuzz the RX record parser in userspace (libFuzzer) for
#                   FUZZ_SECONDS (300); crash inputs kept in build/fuzz/
#   make soak       1000 kTLS connections for 10 minutes in the VM, every
#                   byte checked (DURATION=seconds, CONNECTIONS=n)
#   make fuzz-vm    the campaign in the VM: hostile peer (RECORDS) and API
#                   fuzzing (DURATION s); KTLS_VM_KERNEL=debug: debug kernel
#   make fault-daemon  ktlsd killed (SIGKILL) at random points with
#                   handshakes in flight, ROUNDS rounds (100); SEED replays
#   make clean
#
# KTLS_KERNEL picks the Debian 12 kernel line: 6.1 (default, the stock
# kernel) or 6.12 (linux-image-6.12.*+deb12-amd64).  It is passed on to
# scripts/deps and scripts/vm, which boot that kernel; the mapping below
# mirrors scripts/lib/kernel.sh.  For 6.12, ktls.ko, ktls_sim.ko and the
# handshake test module are built from a copy of their sources in
# build/kernel-6.12/ (kmod/ holds 6.1's build), against the headers that
# scripts/deps unpacked into the cache.
#
# KDIR selects the kernel build tree.  The default is the Debian headers of
# KTLS_KERNEL matching the kernel the VM boots (resolved by scripts/deps);
# for the running kernel of a real host:
# make KDIR=/lib/modules/$(uname -r)/build

KTLS_CACHE ?= /var/cache/ktls
KTLS_KERNEL ?= 6.1
export KTLS_CACHE KTLS_KERNEL
ifeq ($(KTLS_KERNEL),6.1)
KVER := $(shell cat $(KTLS_CACHE)/kver 2>/dev/null)
KDIR ?= /usr/src/linux-headers-$(KVER)
KBUILD_TOP := $(CURDIR)
else ifeq ($(KTLS_KERNEL),6.12)
KVER := $(shell cat $(KTLS_CACHE)/kver-6.12 2>/dev/null)
KDIR ?= $(KTLS_CACHE)/headers-$(KVER)/usr/src/linux-headers-$(KVER)
KBUILD_TOP := $(CURDIR)/build/kernel-6.12
else
$(error KTLS_KERNEL must be 6.1 or 6.12, not '$(KTLS_KERNEL)')
endif
# Where ktls.ko is built, and the handshake test module.
KMOD := $(KBUILD_TOP)/kmod
KCONSUMER := $(KBUILD_TOP)/selftests/handshake/kconsumer

.PHONY: all kmod helper selftests deps check demo install uninstall clean

all: kmod helper selftests

kmod:
	@test -d "$(KDIR)" || { echo "KDIR '$(KDIR)' not found: run scripts/deps or set KDIR" >&2; exit 1; }
ifneq ($(KBUILD_TOP),$(CURDIR))
	@# Sources only (cp -p keeps their times, so make rebuilds what
	@# changed); Kbuild's own files stay behind.
	mkdir -p $(KMOD)/sim $(KBUILD_TOP)/uapi $(KCONSUMER)
	cp -p kmod/Kbuild kmod/*.h $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(KMOD)/
	cp -p kmod/sim/Kbuild $(filter-out %.mod.c,$(wildcard kmod/sim/*.c)) $(KMOD)/sim/
	cp -p uapi/*.h $(KBUILD_TOP)/uapi/
	cp -p selftests/handshake/kconsumer/Kbuild \
		$(filter-out %.mod.c,$(wildcard selftests/handshake/kconsumer/*.c)) $(KCONSUMER)/
endif
	$(MAKE) -C $(KDIR) M=$(KMOD) W=1 modules
	$(MAKE) -C $(KDIR) M=$(KMOD)/sim W=1 \
		KBUILD_EXTRA_SYMBOLS=$(KMOD)/Module.symvers modules

# ktlsd and libktls (helper/): the handshake agent and its library.
helper:
	$(MAKE) -C helper

# selftests/handshake's test module links against kmod/Module.symvers.
selftests: helper kmod
	$(MAKE) -C selftests
	$(MAKE) -C selftests/handshake KDIR=$(KDIR) KCONSUMER_DIR=$(KCONSUMER) \
		KTLS_SYMVERS=$(KMOD)/Module.symvers
	$(MAKE) -C selftests/interop
	$(MAKE) -C selftests/soak
	$(MAKE) -C selftests/campaign
	$(MAKE) -C selftests/offload

deps:
	scripts/deps

check: deps
	$(MAKE) all
	$(MAKE) -C bench
	scripts/check

demo: deps
	$(MAKE) all
	scripts/demo

# The modprobe configuration makes ktls answer to the ULP name "tls" (the
# drop-in for OpenSSL, GnuTLS, nginx); see the comments in the file.
MODPROBE_CONF := $(INSTALL_MOD_PATH)/etc/modprobe.d/ktls.conf

install: kmod
	$(MAKE) -C $(KDIR) M=$(KMOD) modules_install
	install -D -m 0644 kmod/ktls-modprobe.conf $(MODPROBE_CONF)

uninstall:
	rm -f $(MODPROBE_CONF)
	krel=$$(modinfo -F vermagic $(KMOD)/ktls.ko | cut -d' ' -f1) && \
	test -n "$$krel" && \
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$$krel/extra/ktls.ko && \
	{ test -n "$(INSTALL_MOD_PATH)" || depmod "$$krel"; }

clean:
	-test -d "$(KDIR)" && $(MAKE) -C $(KDIR) M=$(CURDIR)/kmod clean
	-test -d "$(KDIR)" && $(MAKE) -C $(KDIR) M=$(CURDIR)/kmod/sim clean
	rm -rf build/kernel-6.12
	$(MAKE) -C selftests clean
	$(MAKE) -C helper clean
	$(MAKE) -C selftests/handshake clean
	$(MAKE) -C selftests/interop clean
	$(MAKE) -C selftests/fuzz clean
	$(MAKE) -C selftests/soak clean
	$(MAKE) -C selftests/campaign clean
	$(MAKE) -C selftests/offload clean
	$(MAKE) -C bench clean

# ktls against tls.ko, OpenSSL, plain TCP and raw AEAD, in one VM boot;
# see Documentation/performance.md.
.PHONY: bench bench-smoke
bench: deps
	$(MAKE) kmod
	$(MAKE) -C bench
	scripts/bench

bench-smoke: deps
	$(MAKE) kmod
	$(MAKE) -C bench
	scripts/bench --smoke

# kmod/rx_parse.c built in userspace and fuzzed with libFuzzer, ASan and
# UBSan; the corpus replayed and the fuzz mutants checked too.  Host only.
# See Documentation/testing.md.
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz: deps
	scripts/fuzz $(FUZZ_SECONDS)

# The suite and the fault-injection test on a debug kernel (KASAN, lockdep,
# kmemleak, fault injection) that scripts/debug-kernel builds once per
# machine (~20-25 min); ktls.ko is built against it in build/debug-kmod/.
.PHONY: check-debug
check-debug: deps
	$(MAKE) all
	$(MAKE) -C selftests/fault
	scripts/check-debug

# Many kTLS connections for a long time, every byte checked, slab and fds
# back afterwards; see Documentation/testing.md ("Soak").
# (target-specific defaults: fuzz-vm's DURATION defaults to 300 s.)
soak: DURATION ?= 600
soak: CONNECTIONS ?= 1000
.PHONY: soak
soak: deps
	$(MAKE) all
	selftests/soak/run-soak -n $(CONNECTIONS) -d $(DURATION)
# Daemon faults (Documentation/testing.md): ktlsd's parent, a handshake
# child, or both killed with SIGKILL at a random point of each of ROUNDS
# rounds (default 100) with 8 pairs of handshakes in flight; SEED replays.
# make check runs 10 rounds (selftests/handshake/tests.d/70-daemon-faults.sh).
ROUNDS ?= 100
.PHONY: fault-daemon
fault-daemon: deps
	$(MAKE) all
	KTLS_FAULT_ROUNDS=$(ROUNDS) $(if $(SEED),KTLS_FAULT_SEED=$(SEED)) \
		scripts/vm --timeout $$(($(ROUNDS) * 40 + 600)) \
		--results build/vm/fault-daemon \
		-- selftests/handshake/run daemon_faults

# The campaign (selftests/campaign, Documentation/testing.md): ktls_hostile
# sends RECORDS hostile records (default 10^6) and ktls_apifuzz runs random
# socket-call sequences for DURATION seconds (default 300), in one VM boot.
# SEED replays a run.  KTLS_VM_KERNEL=debug (or FUZZ_KERNEL=debug) boots the
# debug kernel, with ktls.ko built against it as check-debug does.
.PHONY: fuzz-vm
fuzz-vm: deps
	$(MAKE) kmod
	$(MAKE) -C selftests/campaign
	scripts/fuzz-vm $(if $(FUZZ_KERNEL),--kernel $(FUZZ_KERNEL)) \
		$(if $(RECORDS),--records $(RECORDS)) \
		$(if $(DURATION),--duration $(DURATION)) \
		$(if $(SEED),--seed $(SEED))

# DKMS and Debian packages (Documentation/testing.md, "Packages").  They
# install their own tools (scripts/deps --dkms / --packaging), not what
# make check needs.
.PHONY: dkms-install dkms-uninstall deb check-packages
dkms-install:
	scripts/deps --dkms
	scripts/dkms install

dkms-uninstall:
	scripts/dkms uninstall

deb:
	scripts/deps --packaging
	scripts/deb

check-packages: deb
	scripts/test-packages
