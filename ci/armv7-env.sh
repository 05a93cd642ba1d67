# shellcheck shell=bash
# Sourced by ci/build-armv7.sh and ci/armv7-check.sh: the environment that
# lets Debian's rustc-web/cargo-web build for armv7 musl without rustup
# targets or Docker. std is built from rust-web-src (-Zbuild-std), Debian's
# musl wrapper links and compiles C, and gcc's libgcc_eh.a stands in for
# libunwind.a. Expects $top (the repository) to be set.
: "${top:?set top to the repository before sourcing}"

# shellcheck disable=SC2034 # used by the sourcing script
armv7_target=armv7-unknown-linux-musleabihf

armv7_gcc_dir=$(dirname "$(arm-linux-gnueabihf-gcc -print-libgcc-file-name)")
armv7_unwind_dir=$top/target/armv7-unwind
mkdir -p "$armv7_unwind_dir"
ln -sf "$armv7_gcc_dir/libgcc_eh.a" "$armv7_unwind_dir/libunwind.a"

export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CC_armv7_unknown_linux_musleabihf=arm-linux-musleabihf-gcc
export AR_armv7_unknown_linux_musleabihf=arm-linux-gnueabihf-ar
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER=arm-linux-musleabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C target-feature=+crt-static -C link-self-contained=no -L native=$armv7_unwind_dir"
