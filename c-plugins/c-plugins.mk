# C test plugins, built against OUR include/ into build/c-plugins/*.so.
# The real nbdkit loads them too (compat-tests/tests/4xx-*), which proves
# the headers; layout-check compares struct nbdkit_plugin with Debian's.

CPLUG_DIR    := $(BUILDDIR)/c-plugins
CPLUG_CC     ?= gcc
CPLUG_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -shared -I include
CPLUG_HDRS   := $(wildcard include/*.h)
# Headers of the nbdkit release whose API include/ offers.
NBDKIT144_INC ?= /var/tmp/nbdkit-1.44.1/include
CPLUG_SIMPLE := v1 errors everything debugflags garbage crash gate sleepy fickle newapi
CPLUG_TMS    := serialize_connections serialize_all_requests serialize_requests parallel
CPLUG_SOS    := $(patsubst %,$(CPLUG_DIR)/%.so,$(CPLUG_SIMPLE)) \
                $(CPLUG_DIR)/errors-noerrno.so \
                $(CPLUG_DIR)/badapi-3.so $(CPLUG_DIR)/badapi-noopen.so \
                $(patsubst %,$(CPLUG_DIR)/threads-%.so,$(CPLUG_TMS)) \
                $(CPLUG_DIR)/extents-shapes.so $(CPLUG_DIR)/blocksize.so

# C test filters (misbehaving on purpose, compat 821-824; crowded, compat 826).
# Built as filters of nbdkit 1.32 (Debian's headers, when installed), so
# that Debian's nbdkit, the reference of those tests, loads them too, and
# the server reads them in the older layout.  The same sources built against
# our include/ (nbdkit 1.44's layout) are filter-NAME-144.so.
CFILT_INC    := $(if $(wildcard /usr/include/nbdkit-filter.h),-I /usr/include,-I include)
# nbdkit's own declaration of nbdkit_get_export returns a const struct,
# which -Wextra flags outside a system header directory.
CFILT_CFLAGS := $(filter-out -I include,$(CPLUG_CFLAGS)) $(CFILT_INC) -Wno-ignored-qualifiers
CFILT_NAMES  := fail badextents background version crowded described
CFILT_SOS    := $(patsubst %,$(CPLUG_DIR)/filter-%.so,$(CFILT_NAMES))
CFILT144_SOS := $(patsubst %,$(CPLUG_DIR)/filter-%-144.so,$(CFILT_NAMES))

c-plugins: $(CPLUG_SOS) $(CFILT_SOS) $(CFILT144_SOS) $(CPLUG_DIR)/filter-api5.so $(CPLUG_DIR)/layout-check.stamp \
           $(CPLUG_DIR)/filter-layout-check.stamp

$(CFILT_SOS): $(CPLUG_DIR)/%.so: c-plugins/%.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CFILT_CFLAGS) $< -o $@ -lpthread

$(CFILT144_SOS): $(CPLUG_DIR)/%-144.so: c-plugins/%.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) $(CPLUG_CFLAGS) -Wno-ignored-qualifiers $< -o $@ -lpthread

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

# Our struct layout and constants against nbdkit 1.44.1's headers (the API
# include/ offers, version included) and Debian's nbdkit-plugin-dev 1.32.5
# (same layout; only the version differs).  Each is skipped when missing.
$(CPLUG_DIR)/layout-check.stamp: c-plugins/layout.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) -Wall -I include $< -o $(CPLUG_DIR)/layout-ours
	$(CPLUG_DIR)/layout-ours > $(CPLUG_DIR)/layout-ours.txt
	@if [ -e $(NBDKIT144_INC)/nbdkit-plugin.h ]; then \
	  $(CPLUG_CC) -Wall -I $(NBDKIT144_INC) $< -o $(CPLUG_DIR)/layout-1.44 && \
	  $(CPLUG_DIR)/layout-1.44 > $(CPLUG_DIR)/layout-1.44.txt && \
	  diff -u $(CPLUG_DIR)/layout-1.44.txt $(CPLUG_DIR)/layout-ours.txt && \
	  echo "layout: struct nbdkit_plugin matches nbdkit 1.44.1's headers"; \
	else echo "layout: nbdkit 1.44.1's headers not found, skipped"; fi
	@if [ -e /usr/include/nbdkit-plugin.h ]; then \
	  $(CPLUG_CC) -Wall -I /usr/include $< -o $(CPLUG_DIR)/layout-debian && \
	  $(CPLUG_DIR)/layout-debian | grep -v '^version ' > $(CPLUG_DIR)/layout-debian.txt && \
	  grep -v '^version ' $(CPLUG_DIR)/layout-ours.txt | diff -u $(CPLUG_DIR)/layout-debian.txt - && \
	  echo "layout: struct nbdkit_plugin matches Debian's 1.32 headers"; \
	else echo "layout: Debian's nbdkit headers not installed, skipped"; fi
	@touch $@

# Regenerate the committed bindgen output (server/src/abi/bindings.rs, and
# gnutls_bindings.rs for the TLS transport).
bindings:
	bash c-plugins/gen-bindings.sh server/src/abi/bindings.rs
	bash scripts/gen-gnutls-bindings.sh server/src/abi/gnutls_bindings.rs

# The same for struct nbdkit_filter and struct nbdkit_next_ops, against
# the headers of the nbdkit release whose API include/ offers (filters
# built for older releases are converted at load time, see abi/filter.rs).
$(CPLUG_DIR)/filter-layout-check.stamp: c-plugins/filter-layout.c $(CPLUG_HDRS)
	@mkdir -p $(CPLUG_DIR)
	$(CPLUG_CC) -Wall -I include $< -o $(CPLUG_DIR)/filter-layout-ours
	$(CPLUG_DIR)/filter-layout-ours > $(CPLUG_DIR)/filter-layout-ours.txt
	@if [ -e $(NBDKIT144_INC)/nbdkit-filter.h ]; then \
	  $(CPLUG_CC) -Wall -I $(NBDKIT144_INC) $< -o $(CPLUG_DIR)/filter-layout-1.44 && \
	  $(CPLUG_DIR)/filter-layout-1.44 > $(CPLUG_DIR)/filter-layout-1.44.txt && \
	  diff -u $(CPLUG_DIR)/filter-layout-1.44.txt $(CPLUG_DIR)/filter-layout-ours.txt && \
	  echo "layout: struct nbdkit_filter and nbdkit_next_ops match nbdkit 1.44.1's headers"; \
	else echo "layout: nbdkit 1.44.1's headers not found, skipped"; fi
	@touch $@
