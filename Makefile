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

.PHONY: all tools tests test test-run deps check-deps clean install uninstall format format-check bench eval help
.DEFAULT_GOAL := all

all: engwatchd tools

help:
	@echo "make            build engwatchd and tools"
	@echo "make test       install missing packages, build, run unit + integration tests"
	@echo "make test SANITIZE=1   the same under AddressSanitizer + UBSan"
	@echo "make bench      benchmarks (print numbers)"
	@echo "make eval       generate a labelled workload, replay it, score the alerts (EVAL_ARGS=)"
	@echo "make demo       redis + devbroker + engwatchd + a generated workload; prints the dashboard URL"
	@echo "make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 30); fuzz-build, clean-fuzz"
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

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(BUILD)/daemon $(EW_CFLAGS) $(CFLAGS) -c -o $@ $<

# Dashboard assets: every file under daemon/web/ is embedded as a byte array
# (name, content type, bytes) for daemon/http.c.  The directory itself is a
# prerequisite so that adding or removing a file regenerates the header.
WEB_SRC := $(shell find daemon/web -type f ! -name '.*' 2>/dev/null | LC_ALL=C sort)
$(BUILD)/daemon/web_embed.h: daemon/web $(WEB_SRC) tools/embed_web.sh
	@mkdir -p $(dir $@)
	sh tools/embed_web.sh daemon/web > $@.tmp && mv -f $@.tmp $@

$(BUILD)/daemon/http.o: $(BUILD)/daemon/web_embed.h

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

# generate -> replay -> evaluate against the labels (a few minutes)
eval: check-deps
	@$(MAKE) --no-print-directory all
	@python3 tools/eval run --engwatchd $(BUILD)/engwatchd $(EVAL_ARGS)

bench: check-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tools/bench.sh

# install: the binary, the systemd unit (paths filled in from the template),
# the man page, and the configuration and lexicons under $(SYSCONFDIR)/engwatch.
# Files under $(SYSCONFDIR) are the admin's: an existing one is never
# overwritten; when the shipped version differs it is put beside it as
# FILE.dist (a lexicon's .dist is not loaded: only *.txt are).
# Run `systemctl daemon-reload` afterwards.
INSTALL_ETCDIR = $(DESTDIR)$(SYSCONFDIR)/engwatch
install: $(BUILD)/engwatchd systemd/engwatchd.service.in docs/engwatchd.8
	install -d "$(DESTDIR)$(BINDIR)" "$(INSTALL_ETCDIR)/lexicon" "$(DESTDIR)$(UNITDIR)" \
	  "$(DESTDIR)$(MANDIR)/man8"
	install -m 0755 $(BUILD)/engwatchd "$(DESTDIR)$(BINDIR)/engwatchd"
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/engwatchd.service.in >"$(DESTDIR)$(UNITDIR)/engwatchd.service.tmp"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/engwatchd.service.tmp"
	mv -f "$(DESTDIR)$(UNITDIR)/engwatchd.service.tmp" "$(DESTDIR)$(UNITDIR)/engwatchd.service"
	gzip -9n <docs/engwatchd.8 >"$(DESTDIR)$(MANDIR)/man8/engwatchd.8.gz"
	chmod 0644 "$(DESTDIR)$(MANDIR)/man8/engwatchd.8.gz"
	@for f in conf/engwatchd.conf conf/lexicon/*.txt; do \
	  [ -e "$$f" ] || continue; \
	  case "$$f" in conf/lexicon/*) d="$(INSTALL_ETCDIR)/lexicon/$${f##*/}" ;; *) d="$(INSTALL_ETCDIR)/$${f##*/}" ;; esac; \
	  if [ ! -e "$$d" ]; then \
	    echo "install -m 0644 $$f $$d"; install -m 0644 "$$f" "$$d" || exit 1; \
	  elif cmp -s "$$f" "$$d"; then \
	    rm -f "$$d.dist"; \
	  else \
	    echo "keeping $$d (edited); the shipped version is $$d.dist"; \
	    install -m 0644 "$$f" "$$d.dist" || exit 1; \
	  fi; \
	done

# uninstall: what install put outside $(SYSCONFDIR); the configuration and
# lexicons stay.  Stop and disable the service first.
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/engwatchd" "$(DESTDIR)$(UNITDIR)/engwatchd.service" \
	  "$(DESTDIR)$(MANDIR)/man8/engwatchd.8.gz" "$(DESTDIR)$(MANDIR)/man8/engwatchd.8"
	@echo "left $(INSTALL_ETCDIR) in place (configuration)"

format:
	clang-format -i daemon/*.c include/engwatch/*.h tests/unit/*.c tools/*.c

format-check:
	clang-format --dry-run --Werror daemon/*.c include/engwatch/*.h tests/unit/*.c tools/*.c

clean:
	rm -rf build build-san engwatchd

-include $(shell find build build-san -name '*.d' 2>/dev/null)

# ---- fuzzing ----------------------------------------------------------------
# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang straight from the
# daemon sources they exercise (not from libengwatch.a) into build-fuzz/.
#   make fuzz-build             build every target
#   make fuzz [FUZZ_SECONDS=30] run each target that long on a copy of its seed
#                               corpus (tests/fuzz/corpus/<target>/); crashes go
#                               to build-fuzz/findings/<target>/; exits non-zero
#                               when any target crashed
#   make clean-fuzz             remove build-fuzz/
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -g -O1 $(FUZZ_SAN) -MMD -MP \
                $(shell pkg-config --cflags jansson libutf8proc libconfig zlib 2>/dev/null)
FUZZ_LDLIBS  := $(shell pkg-config --libs jansson libutf8proc libconfig zlib 2>/dev/null) -lm
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

# The daemon sources each target needs.
FUZZ_SRC_fuzz_event    := daemon/event.c daemon/jscan.c
FUZZ_SRC_fuzz_text     := daemon/text.c daemon/hmap.c
FUZZ_SRC_fuzz_config   := daemon/config.c daemon/log.c
FUZZ_SRC_fuzz_dumpline := daemon/source_file.c

.PHONY: fuzz fuzz-build clean-fuzz

fuzz-build: $(FUZZ_BIN)

# Daemon objects get coverage instrumentation without libFuzzer's main().
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# One link rule per target: its own object plus the daemon objects it needs.
define FUZZ_LINK_RULE
$(FUZZ_DIR)/$(1): $(FUZZ_DIR)/obj/tests/fuzz/$(1).o $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC_$(1)))
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(FUZZ_LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_LINK_RULE,$(t))))

fuzz: fuzz-build
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/corpus/$$t; mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/findings/$$t; \
	  if [ -d tests/fuzz/corpus/$$t ]; then cp -R tests/fuzz/corpus/$$t/. $(FUZZ_DIR)/corpus/$$t/; fi; \
	  echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  if ! $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -timeout=30 $$dict \
	       -artifact_prefix=$(FUZZ_DIR)/findings/$$t/ $(FUZZ_DIR)/corpus/$$t \
	       >$(FUZZ_DIR)/$$t.log 2>&1; then \
	    failed="$$failed $$t"; tail -n 60 $(FUZZ_DIR)/$$t.log; \
	  fi; \
	  grep -E '^(stat::number_of_executed_units|stat::new_units_added)|DONE +cov' \
	    $(FUZZ_DIR)/$$t.log | sed 's/^/   /'; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: crashes in:$$failed (inputs in $(FUZZ_DIR)/findings/)"; exit 1; fi; \
	echo "fuzz: no crashes"

clean-fuzz:
	rm -rf $(FUZZ_DIR)

# `make clean` removes build-fuzz/ too (a prerequisite added here; clean's own recipe is above).
clean: clean-fuzz

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
# ---- end fuzzing ------------------------------------------------------------

# ---- demo -------------------------------------------------------------------
# `make demo`: redis-server, devbroker and engwatchd on free loopback ports, a
# generated workload published with kcat, the dashboard URL and a live alert
# summary; Ctrl-C stops everything (tools/demo.sh).
.PHONY: demo
demo:
	@sh tools/demo.sh
# ---- end demo ---------------------------------------------------------------
