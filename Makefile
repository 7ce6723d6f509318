# The two commands of the README, with the set-up a fresh machine needs (idempotent, a few seconds when done).
#   make demo              # train → artifact → codegen → firmware on QEMU → byte-exact check (built-in data)
#   make demo ARGS="--data-dir ../shared/data"    # the same on MNIST
#   make test              # every test: host, generated code, QEMU suite on four machines, end to end
.PHONY: setup demo test

THUMB_TARGETS := thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf

setup:
	@rustup target add --toolchain 1.95.0 $(THUMB_TARGETS) >/dev/null
	@command -v qemu-system-arm >/dev/null 2>&1 || { \
	  echo "installing qemu-system-arm (Debian/Ubuntu package)"; \
	  if [ "$$(id -u)" = 0 ]; then S=""; else S="sudo"; fi; \
	  $$S apt-get update -qq && $$S apt-get install -y --no-install-recommends qemu-system-arm; }

demo: setup
	cargo run --release -p bsq-cli --bin bsq -- demo $(ARGS)

test: setup
	cargo test --workspace --release
