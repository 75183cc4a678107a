# fleetbench: plain Makefile. `make` builds build/fleetbench; `make test`, `make run`, `make bench`.
# SANITIZER=address,undefined builds everything into build-san/ with those sanitizers.

.DEFAULT_GOAL := all
CC      ?= cc
CFLAGS  ?= -O2 -g
SANITIZER ?=
PKGS    := yaml-0.1 jansson libmicrohttpd libprotobuf-c libmodbus openssl

ifeq ($(SANITIZER),)
B := build
else
B := build-san
CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS  := $(shell pkg-config --libs cmocka 2>/dev/null)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
             -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
             -I. -I$(B)/gen $(PKG_CFLAGS) $(CFLAGS)
LIBS     = $(PKG_LIBS) -lev -lm -lpthread

# Sources are discovered, so a new module needs no Makefile change. A layer that needs generated
# code or extra rules puts them in a fragment named <dir>/build.mk (included below).
SIM_SRC   := $(wildcard sim/*.c sim/models/*.c)
PROTO_SRC := $(filter-out protocols/tests/%,$(wildcard protocols/*.c protocols/*/*.c))
HARN_SRC  := $(filter-out harness/main.c,$(wildcard harness/*.c))
GEN_SRC   :=
GEN_HDR   :=

-include $(wildcard */build.mk */*/build.mk)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
SIM_LIB   := $(B)/libfbsim.a
PROTO_LIB := $(B)/libfbproto.a
HARN_LIB  := $(B)/libfbharness.a
FB_LIBS   := $(HARN_LIB) $(PROTO_LIB) $(SIM_LIB)
BIN       := $(B)/fleetbench

TEST_SRC  := $(wildcard sim/tests/test_*.c protocols/tests/test_*.c protocols/*/tests/test_*.c harness/tests/test_*.c)
TEST_BIN  := $(patsubst %.c,$(B)/%,$(TEST_SRC))

.PHONY: all deps run test unit integration bench soak fuzz lint clean
all: $(BIN)

# Flags change => rebuild: the flags are a prerequisite of every object.
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LIBS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LIBS)' > $@
FORCE:

$(B)/obj/%.o: %.c $(B)/.flags $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(SIM_LIB): $(call obj,$(SIM_SRC))
	@rm -f $@; ar rcs $@ $^
$(PROTO_LIB): $(call obj,$(PROTO_SRC) $(GEN_SRC))
	@rm -f $@; ar rcs $@ $^
$(HARN_LIB): $(call obj,$(HARN_SRC))
	@rm -f $@; ar rcs $@ $^

$(BIN): $(call obj,harness/main.c) $(FB_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/%: %.c $(FB_LIBS) $(B)/.flags $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(FB_LIBS) $(TEST_LIBS) $(LIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

deps:
	@bash ci/deps.sh

# The main job on its embedded default: the pilot scenario, one simulated day in a minute
# (x1440), end to end over MQTT, LoRaWAN and Modbus against peers started on loopback (--local),
# with its report as JSON and as a page. RUN_ARGS adds or overrides options.
run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) run scenarios/aix-marseille-pilot.yaml --local --speed x1440 \
	    --report $(B)/pilot-report.json --html $(B)/pilot-report.html $(RUN_ARGS)
	@echo "report: $(B)/pilot-report.json, page: $(B)/pilot-report.html" 

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@B=$(B) bash ci/run-tests.sh $(TEST_BIN)

bench: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) bash ci/bench.sh

# A simulated week of the pilot at x1000 against local peers, memory sampled (about 10 minutes).
soak: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) bash ci/soak.sh

clean:
	rm -rf build build-san
