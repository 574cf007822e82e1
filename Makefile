# Build, run and test the Rust nbdkit.  `make run` serves a 1 GiB memory
# disk; `make check` installs what the tests need and runs them all.

CARGO     ?= cargo
PREFIX    ?= /usr/local
BUILDDIR  := build
# Where cargo puts the binary (CARGO_TARGET_DIR moves it).
NBDKIT    := $(or $(CARGO_TARGET_DIR),target)/release/nbdkit
PORT      ?= 10809
SOCK      ?= /tmp/nbdkit-rs.sock

.PHONY: all build run run-unix check test compat fuzz bench bench-quick bindings bindings-check cbindgen-check install deb clean c-plugins

all: build

build:
	$(CARGO) build --release
	$(MAKE) c-plugins

# C test plugins (and anything else built against include/).
include c-plugins/c-plugins.mk

run: build
	@echo "Serving a 1 GiB memory disk on TCP port $(PORT).  Connect with:"
	@echo "    nbdinfo nbd://localhost:$(PORT)"
	@echo "(make run-unix serves it on nbd+unix:///?socket=$(SOCK) instead.)  ^C stops it."
	$(NBDKIT) -f -p $(PORT) memory 1G

run-unix: build
	@echo "Serving a 1 GiB memory disk.  Connect with:"
	@echo "    nbdinfo 'nbd+unix:///?socket=$(SOCK)'"
	@echo "^C stops it."
	rm -f $(SOCK)
	$(NBDKIT) -f -U $(SOCK) memory 1G

check:
	bash scripts/check.sh

# The committed bindgen output (server/src/abi/bindings.rs) is up to date.
bindings-check:
	bash scripts/bindings-check.sh

# cbindgen's declarations of the exported nbdkit_* functions compile
# against include/ (and shim.c, Debian's headers); see the script.
cbindgen-check:
	bash scripts/cbindgen-check.sh

# Only the end-to-end tests, against an already built server.
compat: build
	bash compat-tests/run

# Coverage-guided fuzzing of the pure parts (libFuzzer, stable toolchain):
# FUZZ_SECONDS per target (default 60); see fuzz/run.
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run $(FUZZ_SECONDS)

bench: build
	bash bench/run

# A smoke run of the multi-connection rows (about 2 minutes).
bench-quick: build
	BENCH_QUICK=1 bash bench/run

# Laid out as Debian's nbdkit and nbdkit-plugin-dev packages: the binary
# in bin/, the headers, nbdkit.pc (its plugindir and filterdir are the
# directories this binary searches), the nbdkit(1) man page and the bash
# completion (bash-completion also looks under /usr/local/share).
PKGCONFIGDIR ?= $(PREFIX)/lib/pkgconfig
install: build
	install -D -m 755 $(NBDKIT) $(DESTDIR)$(PREFIX)/bin/nbdkit
	install -d $(DESTDIR)$(PREFIX)/include
	install -m 644 include/*.h $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PKGCONFIGDIR)
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e "s|@LIBDIR@|$$($(NBDKIT) --dump-config | sed -n 's/^libdir=//p')|" \
	    -e "s|@PLUGINDIR@|$$($(NBDKIT) --dump-config | sed -n 's/^plugindir=//p')|" \
	    -e "s|@FILTERDIR@|$$($(NBDKIT) --dump-config | sed -n 's/^filterdir=//p')|" \
	    include/nbdkit.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/nbdkit.pc
	install -D -m 644 docs/nbdkit.1 $(DESTDIR)$(PREFIX)/share/man/man1/nbdkit.1
	install -D -m 644 bash-completion/nbdkit \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nbdkit

# A Debian package, $(DEBDIR)/nbdkit-rs_VERSION_ARCH.deb, that takes the
# place of Debian's nbdkit server while keeping its plugins and filters
# (see scripts/make-deb.sh and docs/install.md).
DEBDIR ?= $(BUILDDIR)
deb: build
	rm -rf $(abspath $(DEBDIR))/deb
	$(MAKE) install DESTDIR=$(abspath $(DEBDIR))/deb PREFIX=/usr \
	    PKGCONFIGDIR=$$($(NBDKIT) --dump-config | sed -n 's/^libdir=//p')/pkgconfig
	bash scripts/make-deb.sh $(abspath $(DEBDIR))/deb $(abspath $(DEBDIR))

clean:
	$(CARGO) clean
	rm -rf $(BUILDDIR)
