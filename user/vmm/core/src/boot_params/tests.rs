use super::*;
use crate::bzimage::tests::sample_image;
use crate::bzimage::BzImage;
use std::vec;
use std::vec::Vec;

const MIB: u64 = 1 << 20;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn plan_puts_the_kernel_at_its_preferred_address_and_the_initrd_on_top() {
    let f = sample_image(0x1000);
    let img = BzImage::parse(&f).unwrap();
    let plan = BootPlan::new(&img, 256 * MIB, 20, 3 * MIB + 5).unwrap();
    assert_eq!(plan.kernel.start, 16 * MIB);
    assert_eq!(plan.kernel.size, 0x337_8000);
    assert_eq!(plan.entry(), 16 * MIB + 0x200);
    let initrd = plan.initrd.unwrap();
    assert_eq!(initrd.start % 4096, 0);
    assert!(initrd.end() <= 256 * MIB && initrd.end() > 256 * MIB - 4096);
    assert!(initrd.start >= plan.kernel.end());
    assert_eq!(plan.cmdline.size, 21);
}

#[test]
fn low_memory_structures_do_not_overlap() {
    let f = sample_image(0x1000);
    let img = BzImage::parse(&f).unwrap();
    let plan = BootPlan::new(&img, 256 * MIB, 100, 0).unwrap();
    let mut regions = [
        (plan.gdt, 0x1000),
        (plan.page_tables, 6 * 0x1000),
        (plan.stack_top - 0x1000, 0x1000),
        (plan.zero_page, 0x1000),
        (plan.cmdline.start, plan.cmdline.size),
    ];
    regions.sort();
    for pair in regions.windows(2) {
        assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:x?}");
    }
    let (last, size) = regions[regions.len() - 1];
    assert!(last + size <= 0x9_fc00);
    assert!(regions[0].0 >= 0x500, "clear of the IVT and BIOS data area");
}

#[test]
fn a_kernel_that_misses_its_preferred_address_goes_low() {
    let f = sample_image(0x1000);
    let img = BzImage::parse(&f).unwrap();
    // 16 MiB + 51.5 MiB does not fit in 60 MiB; 2 MiB (1 MiB aligned up) does.
    let plan = BootPlan::new(&img, 60 * MIB, 0, 0).unwrap();
    assert_eq!(plan.kernel.start, 2 * MIB);
    assert!(matches!(
        BootPlan::new(&img, 50 * MIB, 0, 0),
        Err(BootError::KernelDoesNotFit { .. })
    ));
}

#[test]
fn a_fixed_kernel_goes_exactly_where_it_asks() {
    let mut f = sample_image(0x1000);
    f[0x234] = 0;
    f[0x258..0x260].copy_from_slice(&(5 * MIB).to_le_bytes());
    let img = BzImage::parse(&f).unwrap();
    assert_eq!(
        BootPlan::new(&img, 128 * MIB, 0, 0).unwrap().kernel.start,
        5 * MIB
    );
    f[0x258..0x260].copy_from_slice(&(100 * MIB).to_le_bytes());
    let img = BzImage::parse(&f).unwrap();
    assert!(BootPlan::new(&img, 128 * MIB, 0, 0).is_err());
}

#[test]
fn hostile_addresses_do_not_overflow() {
    let mut f = sample_image(0x1000);
    f[0x258..0x260].copy_from_slice(&(u64::MAX - 0x1000).to_le_bytes());
    f[0x260..0x264].copy_from_slice(&u32::MAX.to_le_bytes());
    let img = BzImage::parse(&f).unwrap();
    assert!(matches!(
        BootPlan::new(&img, 256 * MIB, 0, 0),
        Err(BootError::KernelDoesNotFit { .. })
    ));
    let img = BzImage::parse(&sample_image(0x1000)).map(|i| i.init_size);
    assert_eq!(img, Ok(0x337_8000));
}

#[test]
fn initrd_respects_initrd_addr_max_unless_it_may_live_above_4g() {
    let mut f = sample_image(0x1000);
    f[0x236] = 0x7d; // XLF_CAN_BE_LOADED_ABOVE_4G clear
    f[0x22c..0x230].copy_from_slice(&(128 * MIB as u32 - 1).to_le_bytes());
    let img = BzImage::parse(&f).unwrap();
    let plan = BootPlan::new(&img, 256 * MIB, 0, MIB).unwrap();
    assert_eq!(plan.initrd.unwrap().start, 127 * MIB);
    assert!(matches!(
        BootPlan::new(&img, 256 * MIB, 0, 70 * MIB),
        Err(BootError::InitrdDoesNotFit { .. })
    ));
    assert!(matches!(
        BootPlan::new(&img, 256 * MIB, 0, u64::MAX),
        Err(BootError::InitrdDoesNotFit { .. })
    ));
}

#[test]
fn ram_and_command_line_limits() {
    let f = sample_image(0x1000);
    let img = BzImage::parse(&f).unwrap();
    assert_eq!(
        BootPlan::new(&img, MIB, 0, 0),
        Err(BootError::RamTooSmall(MIB))
    );
    assert_eq!(
        BootPlan::new(&img, 4096 * MIB, 0, 0),
        Err(BootError::RamTooLarge(4096 * MIB))
    );
    assert_eq!(
        BootPlan::new(&img, 256 * MIB, 0x800, 0),
        Err(BootError::CmdlineTooLong {
            len: 0x800,
            max: 0x7ff
        })
    );
    let mut mem = vec![0u8; 256 * MIB as usize];
    assert_eq!(
        load_linux(&mut mem, &img, b"a\0b", &[], None).unwrap_err(),
        BootError::CmdlineHasNul
    );
}

fn loaded(initrd: &[u8]) -> (Vec<u8>, LoadedKernel) {
    let f = sample_image(0x3000);
    let img = BzImage::parse(&f).unwrap();
    let mut mem = vec![0u8; 128 * MIB as usize];
    let k = load_linux(
        &mut mem,
        &img,
        b"console=ttyS0 noapic",
        initrd,
        Some(0xe0000),
    )
    .unwrap();
    (mem, k)
}

#[test]
fn load_writes_kernel_initrd_and_command_line() {
    let (mem, k) = loaded(&[7u8; 10_000]);
    let at = k.plan.kernel.start as usize;
    assert_eq!(mem[at], 1);
    assert_eq!(mem[at + 0x2fff], (0x2fff % 251) as u8 + 1);
    let initrd = k.plan.initrd.unwrap();
    assert_eq!(
        mem[initrd.start as usize..initrd.end() as usize],
        [7u8; 10_000]
    );
    let cmd = k.plan.cmdline.start as usize;
    assert_eq!(&mem[cmd..cmd + 21], b"console=ttyS0 noapic\0");
}

#[test]
fn zero_page_carries_header_and_loader_fields() {
    let (mem, k) = loaded(&[1u8; 4096]);
    let zp = &mem[k.plan.zero_page as usize..][..4096];
    assert_eq!(&zp[0x202..0x206], b"HdrS");
    assert_eq!(zp[0x1f1], 39);
    assert_eq!(zp[0x1ef], 0, "sentinel stays clear");
    assert_eq!(zp[0x210], 0xff);
    assert_eq!(u32_at(zp, 0x228) as u64, k.plan.cmdline.start);
    assert_eq!(u32_at(zp, 0xc8), 0);
    let initrd = k.plan.initrd.unwrap();
    assert_eq!(u32_at(zp, 0x218) as u64, initrd.start);
    assert_eq!(u32_at(zp, 0x21c), 4096);
    assert_eq!(u32_at(zp, 0xc0), 0);
    assert_eq!(u64_at(zp, 0x70), 0xe0000);
    assert_eq!(zp[0x1e8], 3);
    let entry = |i: usize| {
        let at = 0x2d0 + i * 20;
        (u64_at(zp, at), u64_at(zp, at + 8), u32_at(zp, at + 16))
    };
    assert_eq!(entry(0), (0, 0x9_fc00, E820_RAM));
    assert_eq!(entry(1), (0x9_fc00, 0x100000 - 0x9_fc00, E820_RESERVED));
    assert_eq!(entry(2), (MIB, 127 * MIB, E820_RAM));
    assert!(zp[0x2d0 + 3 * 20..0xd00].iter().all(|&b| b == 0));
}

#[test]
fn without_initrd_or_acpi_those_fields_stay_zero() {
    let (mem, k) = loaded(&[]);
    assert!(k.plan.initrd.is_none());
    let zp = &mem[k.plan.zero_page as usize..][..4096];
    assert_eq!(u32_at(zp, 0x218), 0);
    assert_eq!(u32_at(zp, 0x21c), 0);
}

/// Walks the identity map the way the CPU does (4-level, 2 MiB leaves).
fn translate(mem: &[u8], cr3: u64, va: u64) -> Option<u64> {
    let pml4e = u64_at(mem, (cr3 + ((va >> 39) & 511) * 8) as usize);
    if pml4e & 1 == 0 {
        return None;
    }
    let pdpte = u64_at(mem, ((pml4e & !0xfff) + ((va >> 30) & 511) * 8) as usize);
    if pdpte & 1 == 0 || pdpte & 0x80 != 0 {
        return None;
    }
    let pde = u64_at(mem, ((pdpte & !0xfff) + ((va >> 21) & 511) * 8) as usize);
    if pde & 0x83 != 0x83 {
        return None;
    }
    Some((pde & !0x1f_ffff & 0x000f_ffff_ffff_ffff) | (va & 0x1f_ffff))
}

#[test]
fn page_tables_identity_map_the_first_4_gib() {
    let (mem, k) = loaded(&[]);
    let cr3 = k.boot_cpu.cr3;
    for va in [
        0,
        0x9000,
        16 * MIB + 0x200,
        0x1234_5678,
        0xfee0_0000,
        0xffff_ffff,
    ] {
        assert_eq!(translate(&mem, cr3, va), Some(va), "{va:#x}");
    }
    assert_eq!(translate(&mem, cr3, 0x1_0000_0000), None);
}

#[test]
fn boot_cpu_starts_at_the_64_bit_entry() {
    let (mem, k) = loaded(&[]);
    let s = k.boot_cpu;
    assert_eq!(s.rip, 16 * MIB + 0x200);
    assert_eq!(s.rsi, k.plan.zero_page);
    assert_eq!(s.rflags & (1 << 9), 0, "interrupts off");
    assert_eq!(s.cr0 & 0x8000_0001, 0x8000_0001);
    assert_eq!(s.cr4 & (1 << 5), 1 << 5);
    assert_eq!(s.efer & 0x500, 0x500);
    assert_eq!(s.cs.selector, BOOT_CS);
    assert_eq!(s.cs.access_rights & 0x200, 0x200, "64-bit code");
    for seg in [s.ds, s.es, s.ss] {
        assert_eq!(seg.selector, BOOT_DS);
    }
    // The GDT's descriptors at the selectors: flat, code execute/read, data read/write.
    let gdt = &mem[s.gdtr.base as usize..];
    assert_eq!(s.gdtr.limit, 31);
    let code = u64_at(gdt, BOOT_CS as usize);
    let data = u64_at(gdt, BOOT_DS as usize);
    assert_eq!((code >> 40) & 0xff, 0x9b);
    assert_eq!((code >> 53) & 1, 1, "L");
    assert_eq!((data >> 40) & 0xff, 0x93);
    for d in [code, data] {
        assert_eq!(d & 0xffff, 0xffff);
        assert_eq!((d >> 48) & 0xf, 0xf);
        assert_eq!((d >> 55) & 1, 1, "4 KiB granularity: 4 GiB limit");
    }
}

#[test]
fn application_cpus_start_in_real_mode_at_the_sipi_page() {
    let s = sipi_cpu_state(0x9a);
    assert_eq!(s.cs.selector, 0x9a00);
    assert_eq!(s.cs.base, 0x9_a000);
    assert_eq!(s.rip, 0);
    assert_eq!(s.cr0 & 1, 0);
    assert_eq!(s.efer, 0);
}

#[test]
fn a_plan_for_more_memory_than_given_fails_cleanly() {
    let mut small = vec![0u8; 0x1000];
    assert!(matches!(
        write_identity_page_tables(&mut small, 0x2000),
        Err(BootError::OutsideGuestMemory { .. })
    ));
}
