# SPDX-License-Identifier: GPL-2.0
#
# vdpa_vserial: out-of-tree build and VM test bed.
#
# The module itself is described by the Kbuild file (which kbuild reads
# in preference to this one); this Makefile only drives kbuild and the
# test bed.  "make help" lists the targets.

# Kernel to build against.
KVER		?= $(shell uname -r)
KDIR		?= /lib/modules/$(KVER)/build
# Where "make install" puts the module, below /lib/modules/<release>/,
# the udev rule and the documentation; DESTDIR stages an install.
INSTALL_MOD_DIR	?= updates
INSTALL_MOD_PATH ?= $(DESTDIR)
UDEV_RULES_DIR	?= /lib/udev/rules.d
DOC_DIR		?= /usr/share/doc/vdpa_vserial
export INSTALL_MOD_DIR INSTALL_MOD_PATH

# The package version lives in dkms.conf only.
VERSION		:= $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(CURDIR)/dkms.conf)

# Test bed knobs, read by selftests/vm/vm.sh from the environment.
VM		:= $(CURDIR)/selftests/vm/vm.sh
VM_CPUS		?= 2
VM_MEM		?= 2G
VM_TIMEOUT	?= 1800
VM_LOAD		?= 1
# stock: the rootfs' Debian kernel; debug: selftests/vm/debug.config
VM_KERNEL	?= stock
export VM_CPUS VM_MEM VM_TIMEOUT VM_LOAD VM_KERNEL VSERIAL_CACHE CMD

# kbuild options forwarded into the test bed chroot by vm-build.
KBUILD_VARS	:= $(if $(W),W=$(W)) $(if $(C),C=$(C)) $(if $(V),V=$(V))

.PHONY: all modules install install-udev install-doc clean check-kdir
.PHONY: version help rootfs kernel vm-build vm-run check demo fuzz nested bench
.PHONY: bench-nested fuzz-unit

all: modules

check-kdir:
	@if [ ! -d "$(KDIR)/" ]; then \
		echo "error: kernel build directory $(KDIR) not found." >&2; \
		echo "  Install the headers of the target kernel, or pass KDIR=<kernel build dir>;" >&2; \
		echo "  to build and test in the VM test bed instead, run 'make vm-build' or 'make check'." >&2; \
		exit 1; \
	fi

# W=1, C=1, V=1 given on the command line reach kbuild through MAKEFLAGS.
modules: check-kdir
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# kbuild signs installed modules when the kernel has MODULE_SIG_ALL, with
# a key that distribution headers do not ship: SIGN=1 to let it try.
# (DKMS signs with its own key.)  depmod only for a real install: a
# staged one (DESTDIR) is the packager's to finish.
install: modules install-udev install-doc
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(SIGN),,CONFIG_MODULE_SIG_ALL=) \
		modules_install
	$(if $(INSTALL_MOD_PATH),,depmod -a $$(cat $(KDIR)/include/config/kernel.release))

# /dev/vserial/<vdpa device>/<port name> links
install-udev:
	install -D -m 0644 udev/90-vdpa-vserial.rules \
		$(DESTDIR)$(UDEV_RULES_DIR)/90-vdpa-vserial.rules
	@if [ -z "$(DESTDIR)" ] && command -v udevadm >/dev/null 2>&1; then \
		udevadm control --reload || true; \
	fi

install-doc:
	install -d $(DESTDIR)$(DOC_DIR)/ABI/testing
	install -m 0644 README Documentation/*.rst $(DESTDIR)$(DOC_DIR)/
	install -m 0644 Documentation/ABI/testing/* \
		$(DESTDIR)$(DOC_DIR)/ABI/testing/

clean:
	@if [ -d "$(KDIR)/" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR) clean; \
	else \
		find . -path ./selftests/output -prune -o \
			\( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
			-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.a' \) \
			-type f -print | xargs rm -f; \
		rm -f modules.order Module.symvers; \
	fi
	@if [ -f selftests/Makefile ]; then $(MAKE) -C selftests clean; fi

version:
	@echo $(VERSION)

# ---- VM test bed (needs root; see selftests/vm/vm.sh) ----

rootfs:
	$(VM) rootfs

kernel:
	$(VM) kernel

vm-build:
	$(VM) build $(KBUILD_VARS)

vm-run: vm-build
	@if [ -z "$$CMD" ]; then \
		echo "usage: make vm-run CMD='<shell command>' [VM_CPUS=n] [VM_MEM=size] [VM_TIMEOUT=s] [VM_LOAD=0]" >&2; \
		exit 2; \
	fi
	$(VM) run -- "$$CMD"

check:
	$(CURDIR)/selftests/vm/check.sh

demo: vm-build
	$(VM) run -- selftests/vm/demo.sh

# The vhost-vdpa fuzzer for FUZZ_SECONDS (a short run is in "make check").
FUZZ_SECONDS	?= 300
fuzz: vm-build
	$(VM) run -t $$(($(FUZZ_SECONDS) + 600)) -- \
		"selftests/vhost_fuzz $(FUZZ_SECONDS) $(FUZZ_SEED)"

# The userspace build of the ring engine: unit tests, libFuzzer targets
# and coverage, on this machine (no VM; needs clang, llvm and
# libfuzzer-14-dev).  FUZZ_SECONDS per target if given, else FUZZ_RUNS
# executions in all (default 1000000).
fuzz-unit:
	FUZZ_SECONDS=$(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS)) \
		$(CURDIR)/tools/fuzz-unit.sh

# The benchmark: results in Documentation/bench/ and the README.
BENCH_RUNS	?= 5
bench: vm-build
	$(CURDIR)/selftests/vm/bench.sh $(BENCH_RUNS)

# A QEMU guest on the device beside QEMU's own virtio-serial (slow).
bench-nested: vm-build
	$(CURDIR)/selftests/vm/bench.sh --nested

# A QEMU guest on the device through vhost-vdpa (also in "make check").
nested: vm-build
	$(VM) run -m 3G -N -- selftests/nested_qemu_test.sh

help:
	@echo 'Module:'
	@echo '  make [KDIR=dir] [W=1] [C=1]  build vdpa_vserial.ko (default KDIR=$(KDIR))'
	@echo '  make install [DESTDIR=dir]   module into $(INSTALL_MOD_DIR)/ (depmod), udev rule,'
	@echo '                               documentation'
	@echo '  make clean                   remove build products'
	@echo '  make version                 print the package version ($(VERSION))'
	@echo 'VM test bed (root; cache in $${VSERIAL_CACHE:-/var/cache/vdpa_vserial}):'
	@echo '  make rootfs                  build the cached Debian trixie rootfs'
	@echo '  make kernel                  build the cached debug kernel (about 10 minutes)'
	@echo '  VM_KERNEL=debug              with vm-build, vm-run, check, fuzz: use the debug'
	@echo '                               kernel: KASAN, lockdep, kmemleak, UBSAN, KFENCE,'
	@echo '                               fault injection (selftests/vm/debug.config)'
	@echo '  make vm-build [W=1] [C=1]    build module and selftests against its kernel'
	@echo '  make vm-run CMD=...          build, boot a VM with the module installed and'
	@echo '                               loaded (VM_LOAD=0: not loaded), run CMD as root'
	@echo '                               in the checkout (VM_CPUS=$(VM_CPUS) VM_MEM=$(VM_MEM) VM_TIMEOUT=$(VM_TIMEOUT))'
	@echo '  make check                   all tests (build, checkpatch, selftests, nested'
	@echo '                               QEMU guest, dkms, install)'
	@echo '  make demo                    show the module at work in a VM'
	@echo '  make fuzz [FUZZ_SECONDS=300] [FUZZ_SEED=n]  the vhost-vdpa fuzzer'
	@echo 'On this machine (no VM; clang, llvm, libfuzzer-14-dev):'
	@echo '  make fuzz-unit [FUZZ_SECONDS=n] [FUZZ_RUNS=1000000]  ring engine unit tests,'
	@echo '                               libFuzzer targets, line coverage'
	@echo '  make nested                  a QEMU guest on the device (vhost-vdpa)'
	@echo '  make bench [BENCH_RUNS=5]    the benchmark (Documentation/bench/, README)'
	@echo '  make bench-nested            the same through a QEMU guest, beside QEMU'"'"'s'
	@echo '                               own virtio-serial'
