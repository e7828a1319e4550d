# containy: `make run` builds it, makes the base image once and starts a shell in a container;
# `make test` runs every test (as root: the integration tests create real containers).
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
CONTAINY := target/release/containy
# CONTAINY_BASE=busybox builds a tiny busybox base in seconds instead of Debian (~90 s with debootstrap).
CONTAINY_BASE ?= debian
DEBIAN_SUITE ?= bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian

.PHONY: all deps build extract run test test-cgroup2 lint clean pictures

all: build

deps:
	@./install.sh

build: deps release

# The release binaries are linked statically (libseccomp's .a comes with libseccomp-dev): no ld.so relocations
# and no shared-library mappings on every container start. `--target` keeps the static flag off the build
# scripts and proc macros, which must stay dynamic. The functions a container start runs are laid out first and
# together (bench/run-path.order, then bench/friendly-path.order, made by bench/order.sh, given to lld), so a
# start faults in a few hundred KiB of text instead of windows all over the 8 MB binary; and its relative
# relocations are packed (DT_RELR: a bitmap instead of 24 bytes each, which the static-pie start-up reads in
# full). BENCHMARKS.md measures each.
#
# The runtime, containy, is linked against musl, not glibc: glibc's start-up probes the CPU with 40-70 `cpuid`s,
# and on a virtual machine each is an exit to the hypervisor (7 us on this one: 0.6 of a static hello world's
# 0.68 ms of CPU), which every container start paid once more. Its allocator is dlmalloc (src/main.rs). What it
# needs (install.sh): the Rust target (`rustup target add`), musl-gcc for the C of the library's other
# dependencies, and lld for the layout (rustup's own, through its gcc-ld directory). Debian's libseccomp.a, built
# for glibc, links into it from a directory of its own, where the linker cannot pick up glibc's libc.a instead of
# musl's (src/sys/musl.rs: the one glibc symbol it calls). containy-engine, the daemon and the registry client,
# stays on glibc: a long-lived process, whose start-up does not count, and glibc's resolver.
HOST_TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
MUSL_TRIPLE = $(subst -gnu,-musl,$(HOST_TRIPLE))
GCC_LD = $(shell rustc --print sysroot)/lib/rustlib/$(HOST_TRIPLE)/bin/gcc-ld
LINK_ORDER = -C link-arg=-Wl,--symbol-ordering-file=$(CURDIR)/target/containy.order \
  -C link-arg=-Wl,--no-warn-symbol-ordering -C link-arg=-Wl,-z,pack-relative-relocs
.PHONY: release
release: target/musl-lib/libseccomp.a
	@# cargo does not know the order is an input: a newer one removes the binaries, which makes them relink
	@mkdir -p target; cat bench/run-path.order bench/friendly-path.order >target/order.new; \
	  cmp -s target/order.new target/containy.order || { mv target/order.new target/containy.order; \
	  for d in target/$(HOST_TRIPLE)/release target/$(MUSL_TRIPLE)/release; do \
	    find $$d/containy $$d/containy-engine $$d/deps -maxdepth 1 -name 'containy*' ! -name '*.d' -delete 2>/dev/null || true; \
	  done; }
	@ls "$$(rustc --print target-libdir --target $(MUSL_TRIPLE))"/libstd-*.rlib >/dev/null 2>&1 || \
	  { echo "make release: no Rust standard library for $(MUSL_TRIPLE): run ./install.sh (rustup target add $(MUSL_TRIPLE))" >&2; exit 1; }
	@command -v musl-gcc >/dev/null || { echo "make release: no musl-gcc: run ./install.sh (Debian's musl-tools)" >&2; exit 1; }
	CC_$(subst -,_,$(MUSL_TRIPLE))=musl-gcc LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(CURDIR)/target/musl-lib \
	  cargo rustc --release --bin containy --target $(MUSL_TRIPLE) -- $(LINK_ORDER) \
	    -C link-arg=-fuse-ld=lld -C link-arg=-B$(GCC_LD)
	install -D -m 755 target/$(MUSL_TRIPLE)/release/containy target/release/containy
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$$(gcc -print-multiarch) \
	  RUSTFLAGS="-C target-feature=+crt-static" cargo rustc --release --bin containy-engine --target $(HOST_TRIPLE) -- \
	    $(LINK_ORDER)
	install -D -m 755 target/$(HOST_TRIPLE)/release/containy-engine target/release/containy-engine
	@# A function renamed since bench/order.sh ran falls out of the layout silently (lld skips the name): say so.
	@stale=$$(nm --defined-only $(CONTAINY) | awk 'NR == FNR { have[$$3] = 1; next } !have[$$0]' - target/containy.order | wc -l); \
	  [ "$$stale" = 0 ] || echo "make release: $$stale of the $$(wc -l <target/containy.order) functions in the start-up order are not in this binary (renamed); the layout drifts: run sudo bench/order.sh, then make release" >&2

# Debian's libseccomp.a alone in a directory, for the musl build to link (and lint) against.
target/musl-lib/libseccomp.a:
	install -D -m 644 /usr/lib/$$(gcc -print-multiarch)/libseccomp.a $@

# The base image: a tarball in the bundle, extracted by containy itself (once, into its cache).
ifeq ($(CONTAINY_BASE),busybox)
BASE_TARBALL := bundle/busybox.tar.gz
RUN_CONFIG := --config bundle/busybox.toml
else
BASE_TARBALL := bundle/debian.tar.gz
RUN_CONFIG :=
endif

bundle/debian.tar.gz:
	@echo "making the Debian $(DEBIAN_SUITE) minbase tarball with debootstrap (about 90 s, once)"
	rm -rf .cache/debootstrap && mkdir -p .cache
	$(SUDO) debootstrap --variant=minbase --include=python3,procps,iproute2 $(DEBIAN_SUITE) .cache/debootstrap $(DEBIAN_MIRROR)
	$(SUDO) tar -C .cache/debootstrap -czf $@.tmp . && mv $@.tmp $@
	$(SUDO) rm -rf .cache/debootstrap

bundle/busybox.tar.gz:
	@echo "making a busybox base tarball"
	rm -rf .cache/busybox && mkdir -p .cache/busybox/{bin,etc,proc,sys,dev,tmp,root}
	cp "$$(command -v busybox)" .cache/busybox/bin/busybox
	for a in $$(.cache/busybox/bin/busybox --list); do [ "$$a" = busybox ] || ln -sf busybox .cache/busybox/bin/$$a; done
	printf 'root:x:0:0:root:/root:/bin/sh\n' > .cache/busybox/etc/passwd
	printf 'root:x:0:\n' > .cache/busybox/etc/group
	tar -C .cache/busybox -czf $@.tmp . && mv $@.tmp $@
	rm -rf .cache/busybox

extract: build $(BASE_TARBALL)
	$(SUDO) $(CONTAINY) extract $(BASE_TARBALL)

run: extract
	-$(SUDO) $(CONTAINY) run --bundle bundle $(RUN_CONFIG)

test: deps
	$(SUDO) env "PATH=$$PATH" cargo test

# The release build's own start-up, which `cargo test` (a dynamically linked debug build) never runs: its entry
# point before libc, in a static-pie binary not yet relocated (tests/release-smoke.sh).
.PHONY: test-release
test-release: deps release
	$(SUDO) env "PATH=$$PATH" tests/release-smoke.sh

# This machine's cgroups are hybrid v1, so the container tests run again in a QEMU VM booted with Debian's
# kernel and a pure cgroup2 tree (tests/vm/run.sh installs qemu and the kernel the first time).
VM_TESTS ?= cgroups run lessons lifecycle oci security exec images build plan_contract limits rootless rootless_images rootless_errors rootless_security
test-cgroup2: deps
	CONTAINY_VM_TIMEOUT=$${CONTAINY_VM_TIMEOUT:-1800} tests/vm/run.sh $(VM_TESTS)

# Reliability: 10,000 short containers in a row (tests/churn.rs with CHURN=10000; minutes, not part of `make test`).
# The daemon's RSS/fd/thread samples go to target/soak/daemon.tsv, the test's output to target/soak/soak.log,
# and the curve to target/soak/daemon.svg and .png (gnuplot, when installed) — also when the test fails.
SOAK ?= 10000
.PHONY: soak
soak: deps
	@mkdir -p target/soak
	set -o pipefail; $(SUDO) env "PATH=$$PATH" CHURN=$(SOAK) CHURN_SAMPLES=$(CURDIR)/target/soak/daemon.tsv \
	  cargo test --release --test churn many_short_containers -- --nocapture 2>&1 | tee target/soak/soak.log; \
	  status=$$?; \
	  if command -v gnuplot >/dev/null && [ -s target/soak/daemon.tsv ]; then \
	    for f in svg png; do gnuplot -e "data='target/soak/daemon.tsv'; out='target/soak/daemon.$$f'" \
	      tests/churn_support/curve.gp; done && echo "the daemon's curve: target/soak/daemon.svg, .png (samples: daemon.tsv)"; \
	  else echo "no plot (gnuplot missing or no samples); samples: target/soak/daemon.tsv"; fi; \
	  exit $$status

# Fuzzing (fuzz/, cargo-fuzz + libFuzzer on stable via RUSTC_BOOTSTRAP=1): every parser of outside input, each
# for FUZZ_SECONDS on its corpus in fuzz/corpus/; fails on a crash (input in fuzz/artifacts/). docs/reliability.md
# has the last results. `make fuzz-corpus` remakes the seeds (fuzz/seeds.py) and minimises the corpus with them.
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-corpus
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

fuzz-corpus: deps
	python3 fuzz/seeds.py
	for t in $$(ls fuzz/seeds); do mkdir -p fuzz/corpus/$$t && cp fuzz/seeds/$$t/* fuzz/corpus/$$t/ && \
	  RUSTC_BOOTSTRAP=1 cargo fuzz cmin --debug-assertions $$t fuzz/corpus/$$t -- -max_len=65536 || exit 1; done

lint: target/musl-lib/libseccomp.a
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# The release runtime's own target (musl): what only it compiles is linted too.
	CC_$(subst -,_,$(MUSL_TRIPLE))=musl-gcc LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(CURDIR)/target/musl-lib \
	  cargo clippy --release --target $(MUSL_TRIPLE) --bin containy -- -D warnings

clean:
	cargo clean
	rm -rf .cache

# The cgroups lessons: `make lesson-forks`, `make lesson-memory`, `make lesson-cpu` (see cgroups_example/). make
# fails with the container's exit code when it is not 0: lesson-memory ends in the OOM killer, 137 by design.
LESSON_CONFIG := $(if $(filter busybox,$(CONTAINY_BASE)),--config busybox.toml,)
.PHONY: lesson-forks lesson-memory lesson-cpu
lesson-forks lesson-memory lesson-cpu: lesson-%: extract
	cd cgroups_example/$* && $(SUDO) ../../$(CONTAINY) $(EXPLAIN) run --bundle . $(LESSON_CONFIG)

# The lessons of docs/lessons/: `make lesson-process` (namespaces, filesystem, cgroups, privileges, limits) builds
# containy and the busybox base they run on, then runs `containy lesson NAME`. Add EXPLAIN=--explain to narrate every container.
LESSONS := process namespaces filesystem cgroups privileges limits
.PHONY: $(addprefix lesson-,$(LESSONS))
$(addprefix lesson-,$(LESSONS)): lesson-%: build bundle/busybox.tar.gz
	$(SUDO) $(CONTAINY) $(EXPLAIN) lesson $*

# pictures/: terminal captures of every lesson and diagrams of a real container, all made from real runs
# (pictures/make_pictures.py). Graphviz draws the diagrams; it is installed here, only for this target.
pictures: build bundle/busybox.tar.gz
	@command -v dot >/dev/null || { echo "installing graphviz (dot) for the diagrams"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }
	$(SUDO) python3 pictures/make_pictures.py --containy $(CONTAINY)

# Benchmarks, not tests (not part of `make test`): containy side by side with crun and runc — see BENCHMARKS.md.
# `make bench BENCH_CRUN_HUGETLB=1` lets crun run on a hybrid-cgroup host by mounting hugetlb as a v1 hierarchy
# for the duration of the run (unmounted at exit); other knobs (BENCH_ROUNDS, …) are listed in bench/run.sh.
# The grader part (bench/grader.sh, also alone as `make bench-grader`): an autograder's load in the Debian base —
# a shell one-liner and a Python script, containy with every limit and a result record vs crun/runc/bubblewrap;
# GRADER_RUNS (default the issue's 1000 per runtime and program) and the other GRADER_* knobs in the script.
grader_env = $(SUDO) env "PATH=$$PATH" $(foreach v,$(filter GRADER_%,$(.VARIABLES)),"$(v)=$($(v))")
.PHONY: bench-grader
bench-grader: bundle/debian.tar.gz
	$(grader_env) bench/grader.sh

# `make bench-check`: the run-path rows only (A, B, E; with crun, via BENCH_CRUN_HUGETLB=1), then
# bench/lib/check.py: nonzero, with the figure, when a ratio misses its target. Not part of `make test`.
.PHONY: bench-check
bench-check:
	$(SUDO) env "PATH=$$PATH" BENCH_CHECK=1 BENCH_CRUN_HUGETLB=1 BENCH_ROUNDS=$${BENCH_ROUNDS:-30} $(foreach v,$(filter BENCH_%,$(.VARIABLES)),"$(v)=$($(v))") bench/run.sh

# Section H of `make bench` alone: docker run --rm through containy serve, a private dockerd and podman's service.
.PHONY: bench-engine
bench-engine:
	$(SUDO) env "PATH=$$PATH" $(foreach v,$(filter BENCH_%,$(.VARIABLES)),"$(v)=$($(v))") bench/engine.sh

.PHONY: bench
bench: bundle/debian.tar.gz
	$(SUDO) env "PATH=$$PATH" $(foreach v,$(filter BENCH_%,$(.VARIABLES)),"$(v)=$($(v))") bench/run.sh
	$(grader_env) bench/grader.sh
