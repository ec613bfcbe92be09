# engwatch — plain GNU make.  `make help` lists the targets.
#
# Layout of the build: every daemon/*.c except main.c goes into
# $(BUILD)/libengwatch.a; engwatchd, each tests/unit/test_*.c and each
# tools/*.c link against it.  SANITIZE=1 builds everything with ASan+UBSan
# into build-san/ so both builds can coexist.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=

PKGS := rdkafka hiredis libconfig jansson libutf8proc zlib libsystemd libmicrohttpd libcurl

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif

CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  ?=
CPPFLAGS += -Iinclude -D_GNU_SOURCE -DEW_SYSCONFDIR='"$(SYSCONFDIR)"'
EW_CFLAGS := -std=gnu11 -Wall -Wextra -Werror $(OPT) $(SANFLAGS) -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
EW_LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

LIB_SRC   := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_SRC := $(wildcard tests/integration/*.c)
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(BUILD)/itests/%)
TOOL_SRC  := $(wildcard tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)
LUA_SRC   := $(wildcard daemon/lua/*.lua)

.PHONY: all tools tests test test-run deps check-deps clean install uninstall format format-check bench help
.DEFAULT_GOAL := all

all: engwatchd tools

help:
	@echo "make            build engwatchd and tools"
	@echo "make test       install missing packages, build, run unit + integration tests"
	@echo "make test SANITIZE=1   the same under AddressSanitizer + UBSan"
	@echo "make bench      benchmarks (print numbers)"
	@echo "make deps       install the Debian packages engwatch needs"
	@echo "make install PREFIX=/usr/local DESTDIR=   install"
	@echo "make format / format-check   clang-format"

$(BUILD)/engwatchd: $(BUILD)/daemon/main.o $(BUILD)/libengwatch.a
	$(CC) $(EW_CFLAGS) $(CFLAGS) -o $@ $^ $(EW_LDLIBS) $(LDFLAGS)

# The top-level ./engwatchd is the normal build's binary.
ifeq ($(SANITIZE),1)
engwatchd: $(BUILD)/engwatchd
else
engwatchd: $(BUILD)/engwatchd
	@ln -sf $(BUILD)/engwatchd engwatchd
endif

$(BUILD)/libengwatch.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Lua scripts are embedded as C strings at build time.
$(BUILD)/daemon/lua_embed.h: $(LUA_SRC) tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh $(LUA_SRC) > $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(BUILD)/daemon $(EW_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/daemon/store.o: $(BUILD)/daemon/lua_embed.h

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libengwatch.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(EW_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libengwatch.a $(EW_LDLIBS) $(TEST_LDLIBS) $(LDFLAGS)

$(BUILD)/tools/%: tools/%.c $(BUILD)/libengwatch.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(EW_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libengwatch.a $(EW_LDLIBS) $(LDFLAGS)

# C helpers that integration scripts drive against real servers.
$(BUILD)/itests/%: tests/integration/%.c $(BUILD)/libengwatch.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(EW_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libengwatch.a $(EW_LDLIBS) $(LDFLAGS)

tools: $(TOOL_BIN)
tests: $(UNIT_BIN) $(ITEST_BIN) $(BUILD)/engwatchd tools

# `make test` on a fresh machine: install what is missing, then re-enter make
# so pkg-config sees the freshly installed packages.
test: check-deps
	@$(MAKE) --no-print-directory test-run

test-run: tests
	@BUILD=$(BUILD) sh tests/run.sh

check-deps:
	@sh tools/deps.sh --check || sh tools/deps.sh

deps:
	@sh tools/deps.sh

bench: check-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tools/bench.sh

install: $(BUILD)/engwatchd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/engwatch/lexicon
	install -m 0755 $(BUILD)/engwatchd $(DESTDIR)$(BINDIR)/engwatchd
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/engwatch/engwatchd.conf ]; then \
	  echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/engwatch/engwatchd.conf"; \
	  install -m 0644 conf/engwatchd.conf $(DESTDIR)$(SYSCONFDIR)/engwatch/engwatchd.conf.dist; \
	else install -m 0644 conf/engwatchd.conf $(DESTDIR)$(SYSCONFDIR)/engwatch/engwatchd.conf; fi
	for f in conf/lexicon/*.txt; do [ -e "$$f" ] || continue; \
	  install -m 0644 "$$f" $(DESTDIR)$(SYSCONFDIR)/engwatch/lexicon/; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/engwatchd
	@echo "left $(DESTDIR)$(SYSCONFDIR)/engwatch in place (configuration)"

format:
	clang-format -i daemon/*.c include/engwatch/*.h tests/unit/*.c tools/*.c

format-check:
	clang-format --dry-run --Werror daemon/*.c include/engwatch/*.h tests/unit/*.c tools/*.c

clean:
	rm -rf build build-san engwatchd

-include $(shell find build build-san -name '*.d' 2>/dev/null)
