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
# Where "make install" puts the module, below /lib/modules/<release>/.
INSTALL_MOD_DIR	?= updates
export INSTALL_MOD_DIR

# The package version lives in dkms.conf only.
VERSION		:= $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(CURDIR)/dkms.conf)

# Test bed knobs, read by selftests/vm/vm.sh from the environment.
VM		:= $(CURDIR)/selftests/vm/vm.sh
VM_CPUS		?= 2
VM_MEM		?= 2G
VM_TIMEOUT	?= 1800
VM_LOAD		?= 1
export VM_CPUS VM_MEM VM_TIMEOUT VM_LOAD VSERIAL_CACHE CMD

# kbuild options forwarded into the test bed chroot by vm-build.
KBUILD_VARS	:= $(if $(W),W=$(W)) $(if $(C),C=$(C)) $(if $(V),V=$(V))

.PHONY: all modules install clean check-kdir version help
.PHONY: rootfs vm-build vm-run check demo

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

install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	depmod -a $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) \
		$$(cat $(KDIR)/include/config/kernel.release)

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

help:
	@echo 'Module:'
	@echo '  make [KDIR=dir] [W=1] [C=1]  build vdpa_vserial.ko (default KDIR=$(KDIR))'
	@echo '  make install                 modules_install into $(INSTALL_MOD_DIR)/ and depmod'
	@echo '  make clean                   remove build products'
	@echo '  make version                 print the package version ($(VERSION))'
	@echo 'VM test bed (root; cache in $${VSERIAL_CACHE:-/var/cache/vdpa_vserial}):'
	@echo '  make rootfs                  build the cached Debian trixie rootfs'
	@echo '  make vm-build [W=1] [C=1]    build module and selftests against its kernel'
	@echo '  make vm-run CMD=...          build, boot a VM with the module installed and'
	@echo '                               loaded (VM_LOAD=0: not loaded), run CMD as root'
	@echo '                               in the checkout (VM_CPUS=$(VM_CPUS) VM_MEM=$(VM_MEM) VM_TIMEOUT=$(VM_TIMEOUT))'
	@echo '  make check                   all tests (build, checkpatch, selftests, dkms)'
	@echo '  make demo                    show the module at work in a VM'
