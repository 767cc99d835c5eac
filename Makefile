# Siamese Ensembles for Darknet.
#
# make              fetch Debian's `darknet` source (once), apply patches/ to a pristine copy, build
#                   plugin/ into ./darknet, ./libdarknet.so, ./libdarknet.a and include/darknet.h
# make demo         the main job: baseline vs Siamese Ensemble on Fashion-MNIST (scripts/demo.sh)
# make test         unit tests (cmocka), integration tests driving ./darknet, GPU compile check, fuzzing
# make test SAN=1   the same with Darknet, the plugin and the tests built with ASan + UBSan (+ LSan)
# make fuzz         libFuzzer harnesses (tests/fuzz) in build/fuzz/, built with clang
# make gpu-check GPU=1  build and run tests/gpu/test_gpu_equiv: CPU vs GPU on one seed (needs a GPU;
#                   says "skipped: no CUDA device" without one); scripts/gpu-check.sh does it all
# make deps         install missing build dependencies with apt-get (sudo when not root)
# make bench        training/validation speed and memory: this build vs stock Darknet, Siamese vs
#                   baseline, per-layer shares (bench/run.sh; report in build/bench/)
# make experiments  the paper's evidence on Fashion-MNIST subsets: methods x alpha x sizes x seeds, the
#                   mixing point, ensemble vs branches, tables and gnuplot plots, decision boundaries
#                   (scripts/experiments.sh; about 48 min on 2 idle cores); QUICK=1: the small grid (minutes)
# make boundary     only the decision-boundary figure (build/tools/boundary) into results/boundary.png
# make clean        remove build products; make distclean also removes the fetched source
#
# Options (same names as Darknet's own Makefile): OPENCV=1 (default) GPU=0 CUDNN=0 OPENMP=0 DEBUG=0
#   BLAS=1          gemm through OpenBLAS (cblas_sgemm); BLAS=0: Darknet's own gemm
#   PATCH_LAST=NNNN apply only patches/0001..NNNN (make bench builds stock Darknet with PATCH_LAST=0014)
#   ARCH="-gencode arch=compute_90,code=sm_90"   (GPU=1 only; CUDA 13 has no compute_30/35)
#   CUDA_DIR=/usr/local/cuda   DARKNET_SRC=/path/to/unpacked/debian/darknet/source
#   SAN=1: -fsanitize=address,undefined (any report is fatal), objects in build/obj/<config>-san/

DEBIAN_VERSION := 0.0.0+git20180914.61c9d02e-2

GPU      = 0
CUDNN    = 0
OPENCV   = 1
OPENMP   = 0
DEBUG    = 0
BLAS     = 1
PATCH_LAST =
SAN      = 0
QUICK    = 0
ARCH     = -gencode arch=compute_90,code=sm_90
CUDA_DIR = /usr/local/cuda
NVCC     = $(CUDA_DIR)/bin/nvcc
CC       = gcc

ROOT  := $(CURDIR)
BUILD := $(ROOT)/build
# Where darknet, libdarknet.{so,a} and include/ are put (the tests build GPU=1 into a folder of their own).
OUTDIR := $(ROOT)
DK    := $(BUILD)/darknet

# One object folder per configuration, so switching GPU=1 and back never mixes objects.
CONFIG := $(if $(filter 1,$(GPU)),gpu,cpu)$(if $(filter 1,$(CUDNN)),-cudnn)$(if $(filter 1,$(OPENCV)),-cv)$(if $(filter 1,$(OPENMP)),-omp)$(if $(filter 1,$(DEBUG)),-debug)$(if $(filter 1,$(BLAS)),-blas)$(if $(filter 1,$(SAN)),-san)
OBJDIR := $(BUILD)/obj/$(CONFIG)

ifdef DARKNET_SRC
PRISTINE := $(abspath $(DARKNET_SRC))
else
PRISTINE := $(BUILD)/src/darknet-src
endif

PATCHES := $(sort $(wildcard $(ROOT)/patches/*.patch))
ifneq ($(PATCH_LAST),)
PATCHES := $(filter $(foreach n,$(shell seq -f %04g 1 $(PATCH_LAST)),$(ROOT)/patches/$(n)-%),$(PATCHES))
endif

# Packages a build needs; `make deps` installs the missing ones.
DEPS_BUILD := dpkg-dev gcc g++ make patch pkg-config zlib1g-dev
ifeq ($(BLAS),1)
DEPS_BUILD += libopenblas-dev
endif
ifeq ($(OPENCV),1)
DEPS_BUILD += libopencv-dev
endif
# clang-14 and its libFuzzer runtime (libclang-rt-14-dev) build the fuzzing harnesses.
# python3 runs scripts/sweep.py (grids of runs; tests/integration/test_sweep_local.sh, test_slurm.sh).
# slurm-wlm and munge are not listed: test_slurm.sh installs them itself, and only when root.
DEPS_TEST := libcmocka-dev dataset-fashion-mnist clang-14 libclang-rt-14-dev python3 gnuplot-nox
# make experiments draws its plots with gnuplot and runs scripts/sweep.py and exp-report.py with python3.
DEPS_EXPERIMENTS := dataset-fashion-mnist python3 gnuplot-nox

# SAN=1: every report stops the program (-fno-sanitize-recover); tests/run.sh collects them.
SAN_FLAGS :=
ifeq ($(SAN),1)
# (two -fsanitize flags, not one with a comma: nvcc splits --compiler-options at commas)
SAN_FLAGS := -fsanitize=address -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

# ---- plugin objects: our code, our flags -------------------------------------------------------
# No -ffast-math here (Darknet uses -Ofast): the plugin's NaN checks and tests must be able to fail.
PLUGIN_DEFS := $(if $(filter 1,$(GPU)),-DGPU -I$(CUDA_DIR)/include) $(if $(filter 1,$(CUDNN)),-DCUDNN) $(if $(filter 1,$(OPENCV)),-DOPENCV)
PLUGIN_OPT  := $(if $(filter 1,$(DEBUG)),-O0 -g,-O2 -g)
PLUGIN_CFLAGS := -std=gnu11 $(PLUGIN_OPT) -Wall -Wextra -fPIC -fno-fast-math -pthread \
                 -I$(DK)/include -I$(DK)/src -I$(ROOT)/plugin $(PLUGIN_DEFS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
PLUGIN_SRC  := $(wildcard plugin/*.c)
# GPU=1: the plugin's CUDA kernels (plugin/*.cu), compiled by nvcc for the same ARCH as Darknet's.
PLUGIN_CU   := $(if $(filter 1,$(GPU)),$(wildcard plugin/*.cu))
PLUGIN_OBJS := $(patsubst plugin/%.c,$(OBJDIR)/plugin/%.o,$(PLUGIN_SRC)) \
               $(patsubst plugin/%.cu,$(OBJDIR)/plugin/%.o,$(PLUGIN_CU))
PLUGIN_NVCCFLAGS := $(ARCH) -std=c++17 $(PLUGIN_OPT) \
                 -Xcompiler -Wall,-Wextra,-fPIC,-fno-fast-math -I$(ROOT)/plugin $(PLUGIN_DEFS)
PLUGIN_LDFLAGS := $(SAN_FLAGS) $(EXTRA_LDFLAGS)

# cuDNN: Darknet's cuDNN 7 calls are replaced for cuDNN 8/9 (patches/0022-cudnn9); anything else
# stops here, before a long build, with what was found.
ifeq ($(CUDNN),1)
ifneq ($(GPU),1)
$(error CUDNN=1 needs GPU=1)
endif
CUDNN_VERSION_H := $(firstword $(wildcard $(CUDA_DIR)/include/cudnn_version.h /usr/include/cudnn_version.h /usr/include/*/cudnn_version.h))
ifeq ($(CUDNN_VERSION_H),)
$(error CUDNN=1: no cuDNN headers (cudnn_version.h) in $(CUDA_DIR)/include or /usr/include; install cuDNN 8 or 9 for CUDA, or build without CUDNN=1)
endif
CUDNN_MAJOR := $(shell sed -n 's/^\#define CUDNN_MAJOR  *\([0-9][0-9]*\).*/\1/p' $(CUDNN_VERSION_H))
ifeq ($(filter 8 9,$(CUDNN_MAJOR)),)
$(error CUDNN=1: $(CUDNN_VERSION_H) is cuDNN "$(CUDNN_MAJOR)"; this build supports cuDNN 8 and 9 (patches/0022-cudnn9.patch))
endif
endif

DK_VARS = GPU=$(GPU) CUDNN=$(CUDNN) OPENCV=$(OPENCV) OPENMP=$(OPENMP) DEBUG=$(DEBUG) BLAS=$(BLAS) \
          ARCH='$(ARCH)' CUDA_DIR='$(CUDA_DIR)' NVCC='$(NVCC)' CC='$(CC)' \
          OBJDIR='$(OBJDIR)/' EXEC='$(OBJDIR)/darknet' SLIB='$(OBJDIR)/libdarknet.so' \
          ALIB='$(OBJDIR)/libdarknet.a' PLUGIN_OBJS='$(PLUGIN_OBJS)' PLUGIN_LDFLAGS='$(PLUGIN_LDFLAGS)' \
          $(if $(filter 1,$(SAN)),OPTS='-O2 -g $(SAN_FLAGS)')

.PHONY: all deps deps-check host tools test demo experiments boundary bench stock fuzz gpu-build gpu-check clean distclean FORCE
.DELETE_ON_ERROR:

all: host

deps:
	@scripts/deps.sh install $(DEPS_BUILD) $(DEPS_TEST)

# `make` installs what is missing itself (a no-op, fast, when everything is there).
deps-check:
	@scripts/deps.sh ensure $(DEPS_BUILD)

# ---- Darknet's source: fetched once, or DARKNET_SRC -----------------------------------------------
$(BUILD)/src/darknet-src/debian/changelog: | deps-check
	scripts/fetch-darknet.sh $(BUILD)/src $(DEBIAN_VERSION)

# Which pristine tree and which patches (names and contents) the patched copy comes from;
# rewritten only when that changes, so adding, editing or removing a patch re-patches, even when
# a patch comes back with an old timestamp.
$(BUILD)/origin: FORCE | $(if $(DARKNET_SRC),,$(BUILD)/src/darknet-src/debian/changelog)
	@mkdir -p $(BUILD)
	@$(if $(DARKNET_SRC),scripts/check-darknet-src.sh '$(PRISTINE)' '$(DEBIAN_VERSION)')
	@{ echo '$(PRISTINE)'; cd patches && md5sum $(notdir $(PATCHES)); } > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

# A fresh copy of the pristine tree with every patch applied in order. Any change to a patch or to
# the origin redoes the whole copy (never a patch applied twice) and drops all objects built from
# the old copy (a removed patch would otherwise leave newer, stale objects behind).
$(DK)/.patched: $(BUILD)/origin
	@rm -rf $(DK).tmp $(BUILD)/obj
	@mkdir -p $(DK).tmp
	@tar -C '$(PRISTINE)' --exclude=./.pc --exclude=./debian --exclude=./.git -cf - . | tar -C $(DK).tmp -xf -
	@for p in $(PATCHES); do \
	    echo "applying patches/$$(basename $$p)"; \
	    patch -d $(DK).tmp -p1 --batch --forward --no-backup-if-mismatch --quiet < $$p \
	        || { echo "patches/$$(basename $$p) does not apply to $(PRISTINE)" >&2; exit 1; }; \
	done
	@rm -rf $(DK) && mv $(DK).tmp $(DK) && touch $@

# ---- build -------------------------------------------------------------------------------------
$(OBJDIR)/plugin/%.o: plugin/%.c $(DK)/.patched
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -MMD -MP -c $< -o $@

$(OBJDIR)/plugin/%.o: plugin/%.cu $(DK)/.patched
	@mkdir -p $(@D)
	$(NVCC) $(PLUGIN_NVCCFLAGS) -MMD -MP -c $< -o $@

-include $(PLUGIN_OBJS:.o=.d)

host: deps-check $(DK)/.patched $(PLUGIN_OBJS)
	@mkdir -p $(OBJDIR)
	@echo "building Darknet with the plugin in $(OBJDIR)"
	@$(MAKE) -s --no-print-directory -C $(DK) $(DK_VARS) $(OBJDIR)/libdarknet.so $(OBJDIR)/darknet
	@mkdir -p $(OUTDIR)/include
	@for f in darknet libdarknet.so libdarknet.a; do cmp -s $(OBJDIR)/$$f $(OUTDIR)/$$f || cp $(OBJDIR)/$$f $(OUTDIR)/$$f; done
	@cmp -s $(DK)/include/darknet.h $(OUTDIR)/include/darknet.h || cp $(DK)/include/darknet.h $(OUTDIR)/include/darknet.h
	@cmp -s plugin/plugin.h $(OUTDIR)/include/darknet_plugin.h || cp plugin/plugin.h $(OUTDIR)/include/darknet_plugin.h

# ---- tests -------------------------------------------------------------------------------------
TEST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -fno-fast-math -pthread \
               -I$(ROOT)/include -I$(DK)/src -I$(ROOT)/plugin $(PLUGIN_DEFS) $(SAN_FLAGS)
TEST_LIBS   := $(ROOT)/libdarknet.a $(if $(filter 1,$(BLAS)),-lopenblas) -lm -pthread \
               $(if $(filter 1,$(OPENCV)),$(shell pkg-config --libs opencv4 2>/dev/null) -lstdc++) \
               $(if $(filter 1,$(GPU)),-L$(CUDA_DIR)/lib64 -L$(CUDA_DIR)/lib64/stubs -lcuda -lcudart -lcublas -lcurand -lstdc++) \
               $(if $(filter 1,$(CUDNN)),-lcudnn)
# Programs in scripts/*.c (data converters, cfg tools): built against libdarknet.a into build/tools/.
SCRIPT_SRC  := $(wildcard scripts/*.c)
SCRIPT_BINS := $(patsubst scripts/%.c,$(BUILD)/tools/%,$(SCRIPT_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRC))
# tests/gpu/test_gpu_equiv.c built for the CPU checks itself (test_gpu_equiv_selfcheck.sh); the
# GPU build of it is $(GPU_TEST_BIN) below.
TOOL_BINS  += $(BUILD)/tests/test_gpu_equiv_cpu

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) libdarknet.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LIBS) -lcmocka

$(BUILD)/tests/%: tests/tools/%.c libdarknet.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LIBS)

$(BUILD)/tests/test_gpu_equiv_cpu: tests/gpu/test_gpu_equiv.c libdarknet.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Werror $< -o $@ $(TEST_LIBS)

$(BUILD)/tools/%: scripts/%.c $(wildcard scripts/*.h) libdarknet.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -O2 -Iscripts $< -o $@ $(TEST_LIBS) -lz

tools: host
	@$(MAKE) --no-print-directory $(SCRIPT_BINS)

test: host
	@scripts/deps.sh ensure $(DEPS_TEST)
	@$(MAKE) --no-print-directory $(UNIT_BINS) $(TOOL_BINS) $(SCRIPT_BINS)
	@BUILD='$(BUILD)' CUDA_DIR='$(CUDA_DIR)' SAN='$(SAN)' tests/run.sh $(UNIT_BINS)

# ---- GPU equivalence check (tests/gpu; not part of `make test`, which only builds it: see
# tests/integration/test_gpu_build.sh). Linked against this configuration's libdarknet.a, without
# the driver stub (-lcuda): the CUDA runtime loads the driver itself, so the program starts on a
# machine without one and says that it skipped.
GPU_TEST_BIN  = $(OBJDIR)/test_gpu_equiv
GPU_TEST_LIBS = $(OBJDIR)/libdarknet.a $(if $(filter 1,$(BLAS)),-lopenblas) -lm -pthread \
                $(if $(filter 1,$(OPENCV)),$(shell pkg-config --libs opencv4 2>/dev/null)) \
                -L$(CUDA_DIR)/lib64 -Wl,-rpath,$(CUDA_DIR)/lib64 -lcudart -lcublas -lcurand \
                $(if $(filter 1,$(CUDNN)),-lcudnn) -lstdc++

$(GPU_TEST_BIN): tests/gpu/test_gpu_equiv.c $(OBJDIR)/libdarknet.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -fno-fast-math -pthread -I$(DK)/include -I$(DK)/src \
	    -I$(ROOT)/plugin $(PLUGIN_DEFS) $(SAN_FLAGS) $< -o $@ $(GPU_TEST_LIBS)

ifneq ($(filter gpu-build gpu-check,$(MAKECMDGOALS)),)
ifneq ($(GPU),1)
$(error make $(filter gpu-build gpu-check,$(MAKECMDGOALS)) needs GPU=1 (and ARCH for your GPU, default: $(ARCH)))
endif
endif

gpu-build: host
	@$(MAKE) --no-print-directory $(GPU_TEST_BIN)

# GPU_CHECK_ARGS: more cfgs to compare and time, e.g. GPU_CHECK_ARGS='cfg/fashion-siamese.cfg'
gpu-check: gpu-build
	$(GPU_TEST_BIN) $(GPU_CHECK_ARGS)

# ---- fuzzing (tests/fuzz) ---------------------------------------------------------------------
# libFuzzer harnesses for the cfg parser and the weights loader. Darknet and the plugin are built
# again with clang, coverage and ASan + UBSan into build/obj/fuzz/. The harnesses wrap exit() and
# the allocator (harness.h says why). tests/integration/test_fuzz.sh builds and runs them.
FUZZ_CC      = clang-14
FUZZ_CXX     = clang++-14
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJDIR  := $(BUILD)/obj/fuzz
FUZZ_PLUGIN_OBJS := $(patsubst plugin/%.c,$(FUZZ_OBJDIR)/plugin/%.o,$(PLUGIN_SRC))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_WRAP    := -Wl,--wrap=exit,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=getline,--wrap=fopen,--wrap=fclose

$(FUZZ_OBJDIR)/plugin/%.o: plugin/%.c $(DK)/.patched
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 $(FUZZ_CFLAGS) -Wall -Wextra -I$(DK)/include -I$(DK)/src -Iplugin -MMD -MP -c $< -o $@

-include $(FUZZ_PLUGIN_OBJS:.o=.d)

$(FUZZ_OBJDIR)/libdarknet.a: $(DK)/.patched $(FUZZ_PLUGIN_OBJS) FORCE
	@$(MAKE) -s --no-print-directory -C $(DK) GPU=0 CUDNN=0 OPENCV=0 OPENMP=0 CC='$(FUZZ_CC)' \
	    CPP='$(FUZZ_CXX) -std=c++11' OPTS='$(FUZZ_CFLAGS)' OBJDIR='$(FUZZ_OBJDIR)/' ALIB='$@' \
	    PLUGIN_OBJS='$(FUZZ_PLUGIN_OBJS)' '$@'

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/harness.h $(FUZZ_OBJDIR)/libdarknet.a
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer -Wall -Wextra -I$(DK)/include -I$(DK)/src \
	    $< $(FUZZ_OBJDIR)/libdarknet.a -lm -pthread $(FUZZ_WRAP) -o $@

fuzz: deps-check $(DK)/.patched
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# The main job (scripts/demo.sh): baseline vs Siamese Ensemble on a Fashion-MNIST subset.
demo: tools
	@scripts/deps.sh ensure dataset-fashion-mnist
	@BUILD='$(BUILD)' scripts/demo.sh

# The experiments of the paper (scripts/experiments.sh; settings there): a resumable grid run by
# scripts/sweep.py, the report by scripts/exp-report.py. `make experiments QUICK=1`: the small grid.
experiments: tools
	@scripts/deps.sh ensure $(DEPS_EXPERIMENTS)
	@BUILD='$(BUILD)' QUICK='$(QUICK)' scripts/experiments.sh

BOUNDARY_OUT = results/boundary.png
boundary: tools
	@mkdir -p $(dir $(BOUNDARY_OUT))
	$(BUILD)/tools/boundary --out $(BOUNDARY_OUT)

# Benchmarks (bench/run.sh, not part of `make test`): this build against stock Darknet, i.e. Debian's
# source with the plugin hooks and the correctness patches 0001-0014, none of the speed patches (0015-0019),
# and Darknet's own gemm, built into build/stock/out/.
BENCH_DRIVERS := $(BUILD)/bench/bench_train $(BUILD)/stock/out/bench_train

stock: $(if $(DARKNET_SRC),,$(BUILD)/src/darknet-src/debian/changelog)
	@$(MAKE) --no-print-directory host BUILD=$(BUILD)/stock OUTDIR=$(BUILD)/stock/out PATCH_LAST=0014 BLAS=0 \
	    DARKNET_SRC='$(PRISTINE)' OPENCV=$(OPENCV)

BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -pthread $(SAN_FLAGS)
BENCH_LIBS    = -lm -pthread $(if $(filter 1,$(OPENCV)),$(shell pkg-config --libs opencv4 2>/dev/null) -lstdc++)

$(BUILD)/bench/bench_train: bench/bench_train.c libdarknet.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -I$(ROOT)/include $< -o $@ $(ROOT)/libdarknet.a $(if $(filter 1,$(BLAS)),-lopenblas) $(BENCH_LIBS)

$(BUILD)/stock/out/bench_train: bench/bench_train.c stock
	$(CC) $(BENCH_CFLAGS) -I$(BUILD)/stock/out/include $< -o $@ $(BUILD)/stock/out/libdarknet.a $(BENCH_LIBS)

bench: host tools stock
	@scripts/deps.sh ensure dataset-fashion-mnist
	@$(MAKE) --no-print-directory $(BENCH_DRIVERS)
	@BUILD='$(BUILD)' bench/run.sh

clean:
	rm -rf $(BUILD)/obj $(BUILD)/tests $(BUILD)/tools $(BUILD)/fuzz darknet libdarknet.so libdarknet.a include

distclean: clean
	rm -rf $(BUILD)

FORCE:
