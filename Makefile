# stackctl: the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test test-rust test-handler lint build release emulator-start emulator-stop bench clean

build:
	cargo build

release:
	cargo build --release

## Runs the main job end to end on the local emulator: start it, up, status, up again (no change), down --confirm, stop.
demo:
	bash scripts/demo.sh

## Runs every test: Rust unit and integration tests (each starts its own emulator) and the handler's tests.
test:
	bash scripts/test.sh

test-rust:
	bash scripts/test.sh rust

test-handler:
	bash scripts/test.sh handler

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

emulator-start:
	@bash scripts/emulator.sh start

emulator-stop:
	@bash scripts/emulator.sh stop

## Times stackctl against the tutorial's AWS CLI sequence on one local emulator, and up/down against their critical
## path under strict emulation; then `stackctl dev` against direct calls of the same handler (req/s, p50/p99,
## start-up and reload times). See docs/benchmark.md. Reports targets; never fails on a miss.
bench:
	bash scripts/bench.sh
	bash scripts/bench_dev.sh

clean:
	cargo clean
	rm -rf lambda/dist lambda/node_modules .emulator
