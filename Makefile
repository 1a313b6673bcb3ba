# fbdefio-emu — build, run and test. `make run` and `make test` install what is missing (apt-get) first.
SHELL    := /bin/bash
SWIFT    ?= swift
ARGS     ?=
APT_PKGS := pkg-config libsdl2-dev zlib1g-dev
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test bench clean screenshots

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

# Benchmarks live in their own package so `make test` does not build them. `make bench` prints the ratio table
# (BenchTable: every emulator measurement against a host baseline of the same run; pass flags with
# BENCH_ARGS="--rounds 3"); `make bench DETAIL=1` then also runs the ordo-one/benchmark suites.
BENCH_ARGS ?=
bench: deps
	cd Benchmarks && $(SWIFT) build -c release --product BenchTable
	cd Benchmarks && "$$($(SWIFT) build -c release --show-bin-path)/BenchTable" $(BENCH_ARGS)
	@if [ -n "$(DETAIL)" ]; then cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark --no-progress; fi

# The README's screenshots of `fbdefio-emu step` and of a --walkthrough page (Assets/screenshots/; needs tmux and
# chromium).
screenshots: deps
	tools/screenshots.sh

clean:
	rm -rf .build
