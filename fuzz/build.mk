# `make fuzz`: libFuzzer harnesses (clang -fsanitize=fuzzer,address,undefined), each run for
# FUZZ_TIME seconds (60 by default) from its corpus in fixtures/fuzz/<name>/. Harnesses are the
# files <layer>/tests/fuzz_<name>.c and protocols/<dir>/tests/fuzz_<name>.c; none of the normal
# build's wildcards (sim/*.c, protocols/*/*.c, test_*.c) picks them up. Each one is also replayed
# by `make test` through a test_fuzz_<name>.c beside it (seeds and fixtures/fuzz/regressions/).
#
#   make fuzz                                  every harness, FUZZ_TIME s each
#   make fuzz FUZZ_TIME=600 FUZZ_ONLY=semtech  one harness, longer
#
# The libraries are rebuilt with clang and coverage instrumentation into build-fuzz/ by a nested
# make (own objects, so the normal and sanitizer builds are untouched). Findings go to
# build-fuzz/fuzz-findings/<name>/; new inputs to build-fuzz/fuzz-corpus/<name>/.
FUZZ_B    ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ_CC   ?= clang
FUZZ_ONLY ?=
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRC  := $(wildcard sim/tests/fuzz_*.c protocols/*/tests/fuzz_*.c harness/tests/fuzz_*.c)
FUZZ_BIN  := $(patsubst %.c,$(B)/%,$(FUZZ_SRC))

.PHONY: fuzz fuzz-build
fuzz: deps
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) SANITIZER= \
	    CFLAGS='-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link' LDFLAGS='$(FUZZ_SAN)' fuzz-build
	@B=$(FUZZ_B) FUZZ_TIME=$(FUZZ_TIME) bash fuzz/run.sh $(if $(FUZZ_ONLY),$(filter %/fuzz_$(FUZZ_ONLY),$(patsubst %.c,$(FUZZ_B)/%,$(FUZZ_SRC))),$(patsubst %.c,$(FUZZ_B)/%,$(FUZZ_SRC)))

# Only meaningful inside the nested make above (B=build-fuzz, CC=clang). The library paths are
# spelled out: this fragment is read before the Makefile defines FB_LIBS.
fuzz-build: $(FUZZ_BIN)
$(FUZZ_BIN): $(B)/%: %.c $(B)/libfbharness.a $(B)/libfbproto.a $(B)/libfbsim.a $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -MMD -MP $(LDFLAGS) -o $@ $< \
	    $(B)/libfbharness.a $(B)/libfbproto.a $(B)/libfbsim.a $(LIBS)
