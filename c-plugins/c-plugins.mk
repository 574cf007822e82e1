# C test plugins, built against OUR include/ into build/c-plugins/*.so.
# The real nbdkit loads them too (compat-tests/tests/4xx-*), which proves
# the headers; layout-check compares struct nbdkit_plugin with Debian's.

CPLUG_DIR    := $(BUILDDIR)/c-plugins
CPLUG_CC     ?= gcc
CPLUG_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -shared -I include
CPLUG_HDRS   := $(wildcard include/*.h)
CPLUG_SIMPLE := v1 errors everything debugflags garbage crash gate sleepy fickle
CPLUG_TMS    := serialize_connections serialize_all_requests serialize_requests parallel
CPLUG_SOS    := $(patsubst %,$(CPLUG_DIR)/%.so,$(CPLUG_SIMPLE)) \
                $(CPLUG_DIR)/errors-noerrno.so \
                $(CPLUG_DIR)/badapi-3.so $(CPLUG_DIR)/badapi-noopen.so \
                $(patsubst %,$(CPLUG_DIR)/threads-%.so,$(CPLUG_TMS)) \
                $(CPLUG_DIR)/extents-shapes.so $(CPLUG_DIR)/blocksize.so

# C test filters (misbehaving on purpose, compat 821-824; crowded, compat 826).  Built against
# our include/nbdkit-filter.h once it exists, Debian's until then.
CFILT_INC    := $(if $(wildcard include/nbdkit-filter.h),-I include,)
# nbdkit's own declaration of nbdkit_get_export returns a const struct,
# which -Wextra flags outside a system header directory.
CFILT_CFLAGS := $(filter-out -I include,$(CPLUG_CFLAGS)) $(CFILT_INC) -Wno-ignored-qualifiers
CFILT_SOS    := $(patsubst %,$(CPLUG_DIR)/filter-%.so,fail badextents background version crowded described)

c-plugins: $(CPLUG_SOS) $(CFILT_SOS) $(CPLUG_DIR)/filter-api5.so $(CPLUG_DIR)/layout-check.stamp \
           $(CPLUG_DIR)/filter-layout-check.stamp

$(CFILT_SOS): $(CPLUG_DIR)/%.so: c-plugins/%.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CFILT_CFLAGS) $< -o $@ -lpthread

$(CPLUG_DIR)/filter-api5.so: c-plugins/filter-version.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CFILT_CFLAGS) -DOTHER_API $< -o $@

$(CPLUG_DIR)/%.so: c-plugins/%.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) $< -o $@

$(CPLUG_DIR)/errors-noerrno.so: c-plugins/errors.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) -DNO_ERRNO $< -o $@

$(CPLUG_DIR)/badapi-3.so: c-plugins/badapi.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) -DBAD_API=3 $< -o $@

$(CPLUG_DIR)/badapi-noopen.so: c-plugins/badapi.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) -DNO_OPEN $< -o $@

$(CPLUG_DIR)/threads-%.so: c-plugins/threads.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) -DTM=NBDKIT_THREAD_MODEL_$(shell echo $* | tr a-z A-Z) $< -o $@ -lpthread

# Our struct layout and constants against Debian's nbdkit-plugin-dev (skipped
# when those headers are not installed).
$(CPLUG_DIR)/layout-check.stamp: c-plugins/layout.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) -Wall -I include $< -o $(CPLUG_DIR)/layout-ours
	$(CPLUG_DIR)/layout-ours > $(CPLUG_DIR)/layout-ours.txt
	@if [ -e /usr/include/nbdkit-plugin.h ]; then \
	  $(CPLUG_CC) -Wall -I /usr/include $< -o $(CPLUG_DIR)/layout-debian && \
	  $(CPLUG_DIR)/layout-debian > $(CPLUG_DIR)/layout-debian.txt && \
	  diff -u $(CPLUG_DIR)/layout-debian.txt $(CPLUG_DIR)/layout-ours.txt && \
	  echo "layout: struct nbdkit_plugin matches Debian's headers"; \
	else echo "layout: Debian's nbdkit headers not installed, skipped"; fi
	@touch $@

# Regenerate the committed bindgen output (server/src/abi/bindings.rs, and
# gnutls_bindings.rs for the TLS transport).
bindings:
	bash c-plugins/gen-bindings.sh server/src/abi/bindings.rs
	bash scripts/gen-gnutls-bindings.sh server/src/abi/gnutls_bindings.rs

# The same for struct nbdkit_filter and struct nbdkit_next_ops.
$(CPLUG_DIR)/filter-layout-check.stamp: c-plugins/filter-layout.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) -Wall -I include $< -o $(CPLUG_DIR)/filter-layout-ours
	$(CPLUG_DIR)/filter-layout-ours > $(CPLUG_DIR)/filter-layout-ours.txt
	@if [ -e /usr/include/nbdkit-filter.h ]; then \
	  $(CPLUG_CC) -Wall -I /usr/include $< -o $(CPLUG_DIR)/filter-layout-debian && \
	  $(CPLUG_DIR)/filter-layout-debian > $(CPLUG_DIR)/filter-layout-debian.txt && \
	  diff -u $(CPLUG_DIR)/filter-layout-debian.txt $(CPLUG_DIR)/filter-layout-ours.txt && \
	  echo "layout: struct nbdkit_filter and nbdkit_next_ops match Debian's headers"; \
	else echo "layout: Debian's nbdkit headers not installed, skipped"; fi
	@touch $@
