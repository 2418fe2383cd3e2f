//! Kernel CPU faults on the firmware in QEMU (issue 9 items 1 and 2). One
//! QEMU for the whole file. After a first run of the user's experiment (the
//! heap baseline), each fault kernel (kernels/README.md) is uploaded as
//! subkernel A and run; the master must get `SubkernelFinished` with a
//! RuntimeError naming the fault, its PC and address, and the experiment
//! must pass afterwards with heap0/heap1 back at the baseline:
//!
//! 1. `undefined_instruction`: PC inside the kernel image;
//! 2. `data_abort`: a read of 0x3000_0000 (unmapped);
//! 3. `prefetch_abort`: a call to 0x3000_0000;
//! 4. `stack_overflow`: recursion into the guard below CPU1's stack (a
//!    write fault there; the PC may be the firmware's `memset`);
//! 5. `alignment_fault`: `LDRD` from an odd address;
//! 6. `wild_write`: a store into satman's heap0, which CPU1's translation
//!    table keeps read-only: a permission fault, and satman's heap intact
//!    (the store never happened: the experiment and the heap baseline
//!    check after it pass).
//! 7. `write_mailbox`: a store into the CPU0 side of the mailboxes (the
//!    first page of `.shared.cpu0`), read-only for CPU1: a permission fault;
//! 8. `write_gic`: a store into the GIC distributor, which CPU1's table
//!    does not map: a translation fault;
//! 9. `write_past_lease`: a store into the last word of its recording's
//!    lease (allowed), then into the word just past it, in the `ddma`
//!    region: a permission fault at a page boundary there.
//!
//! Needs the firmware and kernels the build script builds; with
//! SATMAN_SKIP_FIRMWARE set it prints a loud skip and passes.

use std::time::Duration;

use libksupport::exception::{id, ParsedException};
use satman_systest::qemu::cases::{expect_eq, Case, Ctx};
use satman_systest::qemu::experiment::A;

const AWAIT: Duration = Duration::from_secs(5);
const UNMAPPED: i64 = 0x3000_0000;

/// Runs `name` as A; its exception, which must be a kernel CPU fault of
/// `kind`. Checks the kernel counts as failed and the satellite is idle.
fn fault(c: &mut Ctx, name: &str, kind: &str) -> Result<ParsedException, String> {
    let before = c.stats()?;
    c.start(name, A)?;
    let e = c.exception(A)?;
    c.q.master.clear_async();
    expect_eq("exception id (RuntimeError)", e.id, id::RUNTIME_ERROR)?;
    let msg = e.message.clone().unwrap_or_default();
    eprintln!("{name}: {msg} (params {:x?})", e.param);
    if !msg.starts_with(&format!("kernel CPU fault: {kind} at PC ")) {
        return Err(format!("message {msg:?}: expected a {kind}"));
    }
    let s = c.idle(name)?;
    expect_eq("kernels_failed", s.kernels_failed, before.kernels_failed + 1)?;
    Ok(e)
}

/// The PC (param 0) is inside the kernel image, and the message says where.
fn pc_in_image(e: &ParsedException) -> Result<(), String> {
    let msg = e.message.as_deref().unwrap_or_default();
    if !msg.contains("(kernel image + 0x") {
        return Err(format!("message {msg:?}: the PC should be inside the kernel image"));
    }
    Ok(())
}

fn undefined_instruction(c: &mut Ctx) -> Result<(), String> {
    let e = fault(c, "undefined_instruction", "undefined instruction")?;
    pc_in_image(&e)?;
    // The event before the fault went out.
    let ev = c.events(1)?;
    expect_eq("event data", ev[0].data, 1)
}

fn data_abort(c: &mut Ctx) -> Result<(), String> {
    let e = fault(c, "data_abort", "data abort")?;
    pc_in_image(&e)?;
    expect_eq("address", e.param[1], UNMAPPED)?;
    let msg = e.message.unwrap_or_default();
    if !msg.contains("read of address 0x30000000: translation") {
        return Err(format!("message {msg:?}"));
    }
    Ok(())
}

fn prefetch_abort(c: &mut Ctx) -> Result<(), String> {
    let e = fault(c, "prefetch_abort", "prefetch abort")?;
    expect_eq("pc, address", (e.param[0], e.param[1]), (UNMAPPED, UNMAPPED))
}

fn stack_overflow(c: &mut Ctx) -> Result<(), String> {
    // The PC is wherever the store into the guard happened: typically the
    // firmware's `memset` the kernel calls to clear its frame.
    let e = fault(c, "stack_overflow", "stack overflow")?;
    if e.param[2] & 0x800 == 0 {
        return Err(format!("status {:#x}: expected a write", e.param[2]));
    }
    Ok(())
}

fn alignment_fault(c: &mut Ctx) -> Result<(), String> {
    let e = fault(c, "alignment_fault", "alignment fault")?;
    pc_in_image(&e)?;
    if e.param[1] % 4 == 0 {
        return Err(format!("address {:#x} is aligned", e.param[1]));
    }
    Ok(())
}

fn wild_write(c: &mut Ctx) -> Result<(), String> {
    let e = fault(c, "wild_write", "data abort")?;
    pc_in_image(&e)?;
    expect_eq("address", e.param[1], 0x0330_0000)?;
    let msg = e.message.unwrap_or_default();
    if !msg.contains("write of address 0x03300000: permission") {
        return Err(format!("message {msg:?}"));
    }
    // Only the event before the store.
    let ev = c.events(1)?;
    expect_eq("event data", ev[0].data, 1)
}

/// A write fault of `name` at `address` of `kind` ("permission" or
/// "translation"), the PC inside the kernel image.
fn write_fault(c: &mut Ctx, name: &str, kind: &str) -> Result<i64, String> {
    let e = fault(c, name, "data abort")?;
    pc_in_image(&e)?;
    let address = e.param[1];
    let msg = e.message.unwrap_or_default();
    if !msg.contains(&format!("write of address {address:#010x}: {kind}")) {
        return Err(format!("message {msg:?}: expected a {kind} fault on a write of {address:#x}"));
    }
    Ok(address)
}

/// `__shared_start` in linker/satman.ld: `.shared.cpu0` comes first. The
/// test kernels hard-code these addresses; [`layout_matches_the_kernels`]
/// checks them against the firmware's symbols.
const SHARED_CPU0: i64 = 0x1130_0000;
const DDMA: std::ops::Range<i64> = 0x0530_0000..0x0930_0000;

/// The value of every symbol of the (ELF32, little-endian) firmware whose
/// name contains one of `names`.
fn symbols(elf: &[u8], names: &[&str]) -> Vec<(String, i64)> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum) = (u32_at(0x20), u16_at(0x2E), u16_at(0x30));
    let section = |i: usize| shoff + i * shentsize;
    let mut found = Vec::new();
    for i in 0..shnum {
        let sh = section(i);
        if u32_at(sh + 4) != 2 {
            continue; // not SHT_SYMTAB
        }
        let (off, size) = (u32_at(sh + 16), u32_at(sh + 20));
        let strtab = u32_at(section(u32_at(sh + 24)) + 16);
        for sym in (off..off + size).step_by(16) {
            let start = strtab + u32_at(sym);
            let end = start + elf[start..].iter().position(|&b| b == 0).unwrap();
            let name = String::from_utf8_lossy(&elf[start..end]);
            if names.iter().any(|n| name.contains(n)) {
                found.push((name.into_owned(), u32_at(sym + 4) as i64));
            }
        }
    }
    found
}

/// The addresses the test kernels write to are where the firmware has
/// them: `.shared.cpu0` starts the shared region with the ToKernel ring in
/// its first page, and `ddma` is where `write_past_lease` looks.
fn layout_matches_the_kernels() -> Result<(), String> {
    let path = satman_systest::qemu::firmware_elf()?;
    let elf = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let syms = symbols(&elf, &["__shared_cpu0_start", "__shared_cpu0_end", "__ddma_start", "__ddma_end", "TO_KERNEL_RING"]);
    let get = |n: &str| syms.iter().find(|(s, _)| s.contains(n)).map(|s| s.1).ok_or(format!("no symbol {n}"));
    expect_eq("__shared_cpu0_start", get("__shared_cpu0_start")?, SHARED_CPU0)?;
    expect_eq("ddma", get("__ddma_start")?..get("__ddma_end")?, DDMA)?;
    let ring = get("TO_KERNEL_RING")?;
    if !(SHARED_CPU0..SHARED_CPU0 + 4096).contains(&ring) || get("__shared_cpu0_end")? <= ring {
        return Err(format!("TO_KERNEL_RING at {ring:#x}: expected in the first page of .shared.cpu0"));
    }
    Ok(())
}

fn write_mailbox(c: &mut Ctx) -> Result<(), String> {
    layout_matches_the_kernels()?;
    let address = write_fault(c, "write_mailbox", "permission")?;
    expect_eq("address", address, SHARED_CPU0)?;
    let ev = c.events(1)?;
    expect_eq("event data", ev[0].data, 1)
}

fn write_gic(c: &mut Ctx) -> Result<(), String> {
    let address = write_fault(c, "write_gic", "translation")?;
    expect_eq("address", address, 0xF8F0_1000)?;
    let ev = c.events(1)?;
    expect_eq("event data", ev[0].data, 1)
}

fn write_past_lease(c: &mut Ctx) -> Result<(), String> {
    let address = write_fault(c, "write_past_lease", "permission")?;
    if !DDMA.contains(&address) || address % 4096 != 0 {
        return Err(format!("address {address:#x}: expected a page boundary in ddma"));
    }
    Ok(())
}

#[test]
fn qemu_cpu_faults() {
    let Some(mut c) = Ctx::boot("qemu_cpu_faults", AWAIT) else { return };
    let first = c.experiment().unwrap_or_else(|e| panic!("first experiment: {e}\n{}", c.q.diagnostics()));
    c.baseline = Some(first.after.expect("baseline"));

    let cases: [(&str, Case); 9] = [
        ("undefined_instruction", undefined_instruction),
        ("data_abort", data_abort),
        ("prefetch_abort", prefetch_abort),
        ("stack_overflow", stack_overflow),
        ("alignment_fault", alignment_fault),
        ("wild_write (heap0)", wild_write),
        ("write_mailbox (CPU0's side of shared)", write_mailbox),
        ("write_gic (distributor)", write_gic),
        ("write_past_lease (ddma)", write_past_lease),
    ];
    c.run_cases("fault", &cases);
    c.exit();
}
