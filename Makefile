# fbdefio-emu — build, run and test. `make run` and `make test` install what is missing (apt-get) first.
SHELL    := /bin/bash
SWIFT    ?= swift
ARGS     ?=
APT_PKGS := pkg-config libsdl2-dev zlib1g-dev
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test golden bench bench-build clean screenshots install install-files uninstall

all: build

# Installs the system libraries with apt-get, only when pkg-config says they are missing (a check of a few ms).
deps:
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="pkg-config libsdl2-dev zlib1g-dev"; \
	if [ -z "$$missing" ]; then \
	  pkg-config --exists sdl2 || missing="$$missing libsdl2-dev"; \
	  pkg-config --exists zlib || missing="$$missing zlib1g-dev"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing with apt-get"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	    >/tmp/fbdefio-emu-apt.log 2>&1 || { cat /tmp/fbdefio-emu-apt.log; exit 1; }; \
	fi

build: deps
	$(SWIFT) build -c release

# Runs the demo (pass flags with ARGS="--seed 7 --procs 8").
run: build
	"$$($(SWIFT) build -c release --show-bin-path)/fbdefio-emu" $(ARGS)

test: deps
	$(SWIFT) test --disable-xctest

# Re-records every golden file from the current build: the replay traces' outputs (Tests/LabTests/Goldens/*.out),
# the step golden (two-procs-one-page.step), the machine runs' hashes (Tests/LabTests/Goldens/hashes.txt) and the
# workloads' reference renderings (Tests/WorkloadsTests/Goldens/renderings.txt). The tests that check a golden write
# it instead under RECORD_SNAPSHOTS=1; the diff printed at the end is what changed, and each change must be deliberate.
GOLDEN_TESTS := ReplayGoldenTests|MachineTests/everyWorkloadPassesTheChecker|WorkloadTests/golden|StepCLITests/printMatchesTheGolden
golden: deps
	RECORD_SNAPSHOTS=1 $(SWIFT) test --disable-xctest --filter '$(GOLDEN_TESTS)'
	@git diff --stat -- Tests/LabTests/Goldens Tests/WorkloadsTests/Goldens

# Benchmarks live in their own package so `make test` does not build them. `make bench` prints the ratio table
# (BenchTable: every emulator measurement against a host baseline of the same run; pass flags with
# BENCH_ARGS="--rounds 3"); `make bench DETAIL=1` then also runs the ordo-one/benchmark suites.
BENCH_ARGS ?=
bench: deps
	cd Benchmarks && $(SWIFT) build -c release --product BenchTable
	cd Benchmarks && "$$($(SWIFT) build -c release --show-bin-path)/BenchTable" $(BENCH_ARGS)
	@if [ -n "$(DETAIL)" ]; then cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark --no-progress; fi

# Compiles every benchmark target without running any, so that CI sees when they stop building. A debug build: it
# covers the ordo-one suites as well as BenchTable, and takes less time than the release build of `make bench`.
bench-build: deps
	cd Benchmarks && $(SWIFT) build

# The README's screenshots of `fbdefio-emu step` and of a --walkthrough page (Assets/screenshots/; needs tmux and
# chromium).
screenshots: deps
	tools/screenshots.sh

# `make install [PREFIX=/usr/local] [DESTDIR=…]`: the release binary as $(PREFIX)/bin/fbdefio-emu, the assets the
# workloads load (fonts, the cursor's picture) in $(PREFIX)/share/fbdefio-emu and exec's preload library in
# $(PREFIX)/lib/fbdefio-emu, which is where the binary looks for them, relative to its own path. install-files copies
# what the build folder BIN holds without building (the CLI tests install a debug build with it).
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(DESTDIR)$(PREFIX)/bin
LIBDIR   = $(DESTDIR)$(PREFIX)/lib/fbdefio-emu
DATADIR  = $(DESTDIR)$(PREFIX)/share/fbdefio-emu

install: build
	@$(MAKE) --no-print-directory install-files BIN="$$($(SWIFT) build -c release --show-bin-path)"

install-files:
	@test -n "$(BIN)" -a -x "$(BIN)/fbdefio-emu" || { echo "make: no fbdefio-emu in BIN='$(BIN)'" >&2; exit 1; }
	install -d "$(BINDIR)" "$(LIBDIR)" "$(DATADIR)/fonts" "$(DATADIR)/images"
	install -m 755 "$(BIN)/fbdefio-emu" "$(BINDIR)/fbdefio-emu"
	install -m 644 "$(BIN)/libfbdefio-preload.so" "$(LIBDIR)/libfbdefio-preload.so"
	install -m 644 Assets/fonts/*.psf Assets/fonts/LICENSE-* "$(DATADIR)/fonts/"
	install -m 644 Assets/images/*.ppm "$(DATADIR)/images/"

uninstall:
	rm -f "$(BINDIR)/fbdefio-emu"
	rm -rf "$(LIBDIR)" "$(DATADIR)"

clean:
	rm -rf .build
