# ckube build. `make` builds build/ckube; `make test` installs what is missing, builds and runs
# every test; `make run` starts a single-node cluster; see the README for the rest.

CC ?= gcc
BUILD ?= build
# How each library is linked is a matter of start-up time: every shared library costs the
# dynamic loader its relocations at every start, before main().
# Small libraries go in from their static archives (libmnl ships none: it stays shared).
STATIC_PKGS := jansson yaml-0.1 libnl-route-3.0 libnl-3.0 libnftnl libseccomp libcap
SHARED_PKGS := libmnl
# Heavy ones, with some fifty shared libraries behind them, are opened with dlopen() by the
# features that use them (lib/dlopen_util.h): at build time only their headers count.
DLOPEN_PKGS := libmicrohttpd gnutls sqlite3 libcurl libarchive libnetfilter_conntrack
PKGS := $(STATIC_PKGS) $(SHARED_PKGS) $(DLOPEN_PKGS)
# snprintf truncation is how bounded buffers are meant to behave, so it is not a warning here.
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers $(if $(findstring clang,$(CC)),,-Wno-format-truncation)
CFLAGS ?= -O2 -g
# Commands are printed as "CC file"; `make V=1` prints them whole.
ifeq ($(V),1)
Q :=
else
Q = @printf '  %-4s %s\n' "$(if $(filter %.a,$@),AR,$(if $(filter %.o,$@),CC,LD))" "$@";
endif
# What the code needs whatever CFLAGS the caller passes (make asan passes its own).
ALL_CFLAGS = $(CFLAGS) -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -I. \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := -Wl,-Bstatic $(shell pkg-config --libs $(STATIC_PKGS) 2>/dev/null) -Wl,-Bdynamic \
	$(shell pkg-config --libs $(SHARED_PKGS) 2>/dev/null) -lpthread -lm
# The unit tests build archives and digests with the dlopen()ed libraries themselves; the
# copy the code under test opens is then the one already loaded.
TEST_LDLIBS := $(shell pkg-config --libs $(DLOPEN_PKGS) 2>/dev/null) -lcmocka

# Each top-level folder with sources is one static library; cmd/ holds the multi-call entry.
FOLDERS := kubectl apiserver kubelet runtime cgroup netns iptables volume lib
# Listed users before what they use, the order static linking needs.
MODULES := $(foreach m,$(FOLDERS),$(if $(wildcard $(m)/*.c $(m)/*.S),$(m)))

objs_of = $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c)) \
	$(patsubst %.S,$(BUILD)/%.o,$(wildcard $(1)/*.S))
lib_of = $(BUILD)/lib$(1).a
ARCHIVES := $(foreach m,$(MODULES),$(call lib_of,$(m)))
BIN := $(BUILD)/ckube

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps deps-build test unit e2e vm-test run bench lint format asan clean
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

define module_rule
$(call lib_of,$(1)): $(call objs_of,$(1))
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

CMD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/*.c))

$(BIN): $(CMD_OBJS) $(ARCHIVES)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVES) $(LDLIBS) $(TEST_LDLIBS)

# Installing needs root; building alone only needs the -dev packages.
deps:
	./scripts/deps.sh all

deps-build:
	./scripts/deps.sh build

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

e2e: $(BIN)
	CKUBE_BIN=$(abspath $(BIN)) /usr/bin/python3 -m pytest -q tests/e2e

# Real Debian kernels in qemu (tests/vm/README.md): the image is built once into $(BUILD)/vm.
vm-test: $(BIN)
	CKUBE_BIN=$(abspath $(BIN)) tests/vm/run.sh

test: deps
	$(MAKE) all unit
	$(MAKE) e2e
	$(MAKE) vm-test

run: deps
	$(MAKE) all
	$(BIN) server

bench: deps
	$(MAKE) all
	CKUBE_BIN=$(abspath $(BIN)) ./bench/run.sh

lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The unit and end-to-end tests again, under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) BUILD=build-asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" all unit e2e

clean:
	rm -rf build build-asan

$(BUILD)/apiserver/schema_data.o: $(wildcard apiserver/schema/*.yaml)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
