//! `machine_ctrl` update microcode: the reference's size limit, Facet's checks of the
//! update (where it lies, its header and checksums, its processor), and the good path
//! on whatever CPU model the emulator offers: an update with a newer revision, which an
//! emulator ignores and real hardware refuses (it is not signed), and one with the
//! revision the CPUs already run, which every CPU "takes". Each answer comes with the
//! kernel still healthy and the pool whole.

use facet_abi::hip;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::cpu::cpuid;
use facet_rt::hypercall::{pool_stats, update_microcode};

use crate::suite::fixture::{MICROCODE_PAGES, MICROCODE_RAM};
use crate::suite::tools::map_from_kernel;
use crate::suite::{Env, Fail, TestResult};

/// Bytes of the updates written here: header and data, a multiple of 1 KiB.
const TOTAL: u32 = 2048;

/// Writes an update at byte `at` of the window: `revision` for processor `signature`
/// on every platform, with a correct checksum (`bad_checksum` spoils it).
fn write_update(at: u64, revision: u32, signature: u32, bad_checksum: bool) {
    let w = MICROCODE_PAGES.window();
    let mut words = [0u32; TOTAL as usize / 4];
    words[0] = 1; // header version
    words[1] = revision;
    words[2] = 0x2024_0105; // date
    words[3] = signature;
    words[5] = 1; // loader revision
    words[6] = 0xff; // every platform
    words[7] = TOTAL - 48; // data size
    words[8] = TOTAL; // total size
    for (i, d) in words[12..].iter_mut().enumerate() {
        *d = (i as u32).wrapping_mul(0x9e37_79b9);
    }
    let sum = words.iter().fold(0u32, |s, &x| s.wrapping_add(x));
    words[4] = sum.wrapping_neg().wrapping_add(bad_checksum as u32);
    for (i, &x) in words.iter().enumerate() {
        w.write::<u32>(at + 4 * i as u64, x);
    }
}

fn free_frames() -> Result<u64, Fail> {
    pool_stats()
        .map(|(free, _)| free)
        .map_err(|s| Fail::new(format_args!("pool statistics: {}", s.name())))
}

pub fn microcode_update(e: &Env) -> TestResult {
    let rw = perm::MEM_R | perm::MEM_W;
    map_from_kernel(
        MICROCODE_RAM.page(0),
        1,
        rw,
        MICROCODE_PAGES.window(),
        "the update's pages",
    )?;
    let phys = MICROCODE_RAM.page(0) << 12;
    let sig = cpuid(1, 0).0;
    let before = free_frames()?;

    // The reference's check: at most 2 MiB. Then Facet's: a header's worth at least, in
    // memory the kernel maps and does not own, not wrapping.
    write_update(0, 1, sig, false);
    ensure_eq!(update_microcode(0x20_0001, phys).0, Status::BadPar);
    ensure_eq!(update_microcode(0xff_ffff, phys).0, Status::BadPar);
    ensure_eq!(update_microcode(47, phys).0, Status::BadPar);
    ensure_eq!(update_microcode(0, phys).0, Status::BadPar);
    let kernel = (0..e.hip().mem_count())
        .map(|i| e.hip().mem(i))
        .find(|m| m.mem_type == hip::MEM_HYPERVISOR)
        .map_or(0x20_0000, |m| m.addr);
    ensure_eq!(update_microcode(TOTAL, kernel).0, Status::BadPar);
    ensure_eq!(update_microcode(TOTAL, u64::MAX - 100).0, Status::BadPar);
    ensure_eq!(
        update_microcode(TOTAL, 0xffff_ffff_ffff_0000).0,
        Status::BadPar
    );
    ensure_eq!(update_microcode(TOTAL, 1 << 50).0, Status::BadPar);
    // Fewer bytes named than the update's total size.
    ensure_eq!(update_microcode(TOTAL - 4, phys).0, Status::BadPar);
    // A spoilt checksum, a wrong header version, another processor.
    write_update(0, 1, sig, true);
    ensure_eq!(update_microcode(TOTAL, phys).0, Status::BadPar);
    write_update(0, 1, sig, false);
    MICROCODE_PAGES.window().write::<u32>(0, 2);
    ensure_eq!(update_microcode(TOTAL, phys).0, Status::BadPar);
    write_update(0, 1, sig ^ 0x10, false);
    ensure_eq!(update_microcode(TOTAL, phys).0, Status::BadPar);
    ensure_eq!(free_frames()?, before);

    // A newer revision than any CPU runs: the emulator ignores it, hardware refuses it
    // (ABORT); a CPU that took it would run it (SUCCESS).
    const NEWER: u32 = 0x7fff_fff0;
    write_update(0, NEWER, sig, false);
    let (status, running) = update_microcode(TOTAL, phys);
    facet_rt::println!(
        "roottask: microcode update {:#x} for {:#x}: {} (the CPU runs {:#x})",
        NEWER,
        sig,
        status.name(),
        running
    );
    match status {
        Status::Abort => {
            ensure!(running < NEWER as u64, "ABORT, yet revision {:#x}", running);
            ensure_eq!(free_frames()?, before);
        }
        Status::Success => ensure!(running >= NEWER as u64, "revision {:#x}", running),
        s => return Err(Fail::new(format_args!("newer update: {}", s.name()))),
    }
    // The revision every CPU runs already, at an address that is not 16-byte aligned
    // (the kernel loads its own copy): every CPU runs it afterwards.
    if status == Status::Abort {
        write_update(4, running as u32, sig, false);
        let (status, again) = update_microcode(TOTAL, phys + 4);
        ensure_eq!(status, Status::Success);
        ensure_eq!(again, running);
        // The kernel keeps it (to load again after a resume): the pool lends it a frame.
        ensure!(
            free_frames()? < before,
            "the kept update is not in the pool"
        );
    }
    // The kernel answers on as before.
    ensure!(pool_stats().is_ok(), "pool statistics after the updates");
    Ok(())
}
