#!/usr/bin/env bash
# Builds the test kernels into kernels/out/<name>.elf and prints their paths,
# one per line, on stdout (progress goes to stderr).
#
# Needs only rustup with a nightly toolchain and its rust-src component
# (`rustup toolchain install nightly --component rust-src`): core is built from
# source for armv7a-none-eabihf and the nightly's own rust-lld links. No C
# toolchain or binutils.
#
# Each kernel is compiled like an ARTIQ kernel: ARM code for the Cortex-A9,
# position-independent, panic=abort, fat LTO into a single object (kernel +
# the parts of core it uses; compiler-builtins is never part of it, so
# memcpy, __aeabi_* and friends stay undefined), then linked as a shared
# object with
#     ld.lld -shared --eh-frame-hdr --target2=rel -x -T linker/kernel.ld
# so every firmware function it calls is an undefined symbol reached through
# a PLT entry and an R_ARM_JUMP_SLOT relocation.
#
# Environment (all optional):
#   KERNELS_OUT_DIR      where the .elf files go        (default: kernels/out)
#   KERNELS_TARGET_DIR   cargo target directory         (default: kernels/target)
#   KERNELS_TOOLCHAIN    rustup toolchain to use        (default: nightly)
# Safe to call from a cargo build script: cargo's variables are cleared, and
# the nested build uses its own target directory, so it cannot wait on the
# outer build's lock.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${KERNELS_OUT_DIR:-$here/out}"
target_dir="${KERNELS_TARGET_DIR:-$here/target}"
toolchain="${KERNELS_TOOLCHAIN:-nightly}"
target=armv7a-none-eabihf
kernels=(
    ttl_pulses
    dma_record_playback
    args_return
    message_pingpong
    raise_exception
    never_finishes
    float_delay
    raise_while_recording
    catch_exception
    catch_mismatch
    finally_then_catch
    catch_underflow
    finally_uncaught
    underflow_uncaught
    fifo_fill
    rtio_errors
    undefined_instruction
    data_abort
    prefetch_abort
    stack_overflow
    alignment_fault
    wild_write
    wild_request
    cache_loop
    cache_clear
    write_mailbox
    write_gic
    write_past_lease
    record_cost
)

# A build script's environment describes the outer build (its compiler, its
# flags, its target directory, its jobserver): none of it applies here.
unset RUSTC RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTDOC RUSTFLAGS RUSTDOCFLAGS \
    CARGO_ENCODED_RUSTFLAGS CARGO_ENCODED_RUSTDOCFLAGS CARGO_BUILD_RUSTFLAGS \
    CARGO_BUILD_TARGET CARGO_BUILD_TARGET_DIR CARGO_TARGET_DIR CARGO_BUILD_RUSTC \
    CARGO_MAKEFLAGS MAKEFLAGS MFLAGS RUSTUP_TOOLCHAIN
for var in $(env | sed -n 's/^\(CARGO_PROFILE_[A-Z0-9_]*\)=.*/\1/p; s/^\(CARGO_TARGET_[A-Z0-9_]*\)=.*/\1/p'); do
    unset "$var"
done

die() {
    echo "kernels/build.sh: $*" >&2
    exit 1
}

command -v rustup >/dev/null || die "rustup not found (install it, then: rustup toolchain install $toolchain --component rust-src)"
sysroot="$(rustc +"$toolchain" --print sysroot 2>/dev/null)" \
    || die "no '$toolchain' toolchain (rustup toolchain install $toolchain --component rust-src)"
[[ -d "$sysroot/lib/rustlib/src/rust/library/core" ]] \
    || die "toolchain '$toolchain' lacks rust-src (rustup component add rust-src --toolchain $toolchain)"
host="$(rustc +"$toolchain" -vV | sed -n 's/^host: //p')"
lld="$sysroot/lib/rustlib/$host/bin/rust-lld"
[[ -x "$lld" ]] || die "rust-lld not found at $lld"

# The kernel ABI's code model. No `+neon,+d32`: this nightly's target already
# has VFPv3-D32, and a test kernel gains nothing from NEON. No
# `-Cforce-unwind-tables`: with panic=abort every function then gets a compact
# (pr0) EHABI entry, which leaves an undefined `__aeabi_unwind_cpp_pr0` in
# .dynsym; without it each function is EXIDX_CANTUNWIND, so an exception
# raised by a test kernel is uncaught at its first frame, as intended.
export CARGO_ENCODED_RUSTFLAGS="-Ctarget-cpu=cortex-a9"$'\x1f'"-Crelocation-model=pic"
export CARGO_TARGET_DIR="$target_dir"

mkdir -p "$out" "$target_dir/kernel-obj"
for kernel in "${kernels[@]}"; do
    obj="$target_dir/kernel-obj/$kernel.o"
    compile() {
        cargo +"$toolchain" rustc --quiet --manifest-path "$here/Cargo.toml" --release \
            --target "$target" -Zbuild-std=core --example "$kernel" \
            -- --emit=obj="$obj"
    }
    echo "kernels/build.sh: building $kernel" >&2
    compile
    if [[ ! -f "$obj" ]]; then
        # Cargo thought the kernel up to date but the object is gone:
        # make the source newer and compile again.
        touch "$here/examples/$kernel.rs"
        compile
    fi
    [[ -f "$obj" ]] || die "$kernel: rustc produced no object"
    "$lld" -flavor gnu -shared --eh-frame-hdr --target2=rel -x \
        -T "$root/linker/kernel.ld" -o "$out/$kernel.elf.tmp" "$obj"
    mv "$out/$kernel.elf.tmp" "$out/$kernel.elf"
    echo "$out/$kernel.elf"
done
