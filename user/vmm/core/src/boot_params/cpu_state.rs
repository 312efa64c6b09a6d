//! The processor state a vCPU starts in: the bootstrap vCPU at the kernel's 64-bit entry
//! (with the GDT and identity page tables that entry needs, written into guest memory
//! here), and an application vCPU at the real-mode address its start-up IPI names.
//!
//! Segment access rights are in the UTCB's compressed 12-bit form (type, S, DPL, P in
//! bits 7:0; AVL, L, D/B, G in bits 11:8; 0 for an unusable segment), so that the VMM
//! copies each field into its start-up reply unchanged.

use super::plan::{PAGE_TABLES_SIZE, STACK_TOP};
use super::BootError;

/// Code segment selector the 64-bit boot protocol requires (`__BOOT_CS`).
pub const BOOT_CS: u16 = 0x10;
/// Data segment selector the 64-bit boot protocol requires (`__BOOT_DS`).
pub const BOOT_DS: u16 = 0x18;

/// GDT entries: null, unused, flat 64-bit code at 0x10, flat data at 0x18.
const GDT_ENTRIES: [u64; 4] = [0, 0, 0x00af_9b00_0000_ffff, 0x00cf_9300_0000_ffff];

/// Access rights (compressed): present 64-bit code, execute/read, accessed, G, L.
const CODE64_AR: u16 = 0xa9b;
/// Present flat data, read/write, accessed, G, D/B.
const DATA_AR: u16 = 0xc93;
/// Present busy 64-bit TSS (VMX insists on a usable TR even when nothing uses it).
const TSS_AR: u16 = 0x8b;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
/// PAT after reset: WB, WT, UC-, UC, repeated.
pub const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// A segment register as the UTCB carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    pub access_rights: u16,
    pub limit: u32,
    pub base: u64,
}

/// GDTR or IDTR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u32,
}

/// Everything a start-up reply sets (general registers not named here are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuState {
    pub rip: u64,
    pub rsp: u64,
    /// The zero page for the 64-bit entry; 0 otherwise.
    pub rsi: u64,
    pub rflags: u64,
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub pat: u64,
    pub cs: Segment,
    pub ss: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub tr: Segment,
    pub ldtr: Segment,
    pub gdtr: DescriptorTable,
    pub idtr: DescriptorTable,
}

/// The bootstrap vCPU's state at the 64-bit entry: long mode with paging through the
/// identity map at `page_tables`, flat segments from the GDT at `gdt`, interrupts off,
/// RSI pointing at the zero page.
pub fn boot_cpu_state(entry: u64, zero_page: u64, gdt: u64, page_tables: u64) -> CpuState {
    let flat = |selector, access_rights| Segment {
        selector,
        access_rights,
        limit: 0xffff_ffff,
        base: 0,
    };
    let data = flat(BOOT_DS, DATA_AR);
    CpuState {
        rip: entry,
        rsp: STACK_TOP,
        rsi: zero_page,
        rflags: 0x2,
        cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG,
        cr3: page_tables,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
        pat: PAT_RESET,
        cs: flat(BOOT_CS, CODE64_AR),
        ss: data,
        ds: data,
        es: data,
        fs: data,
        gs: data,
        tr: Segment {
            selector: 0,
            access_rights: TSS_AR,
            limit: 0x67,
            base: 0,
        },
        ldtr: Segment {
            selector: 0,
            access_rights: 0,
            limit: 0,
            base: 0,
        },
        gdtr: DescriptorTable {
            base: gdt,
            limit: (GDT_ENTRIES.len() * 8 - 1) as u32,
        },
        idtr: DescriptorTable { base: 0, limit: 0 },
    }
}

/// An application vCPU's state after INIT and a start-up IPI with `vector`: real mode
/// at `vector * 4096` (CS = vector << 8, IP = 0), caches as after reset.
pub fn sipi_cpu_state(vector: u8) -> CpuState {
    let real = |selector: u16, access_rights| Segment {
        selector,
        access_rights,
        limit: 0xffff,
        base: (selector as u64) << 4,
    };
    let data = real(0, 0x93);
    CpuState {
        rip: 0,
        rsp: 0,
        rsi: 0,
        rflags: 0x2,
        // CD, NW and ET, as after RESET and INIT.
        cr0: 0x6000_0010,
        cr3: 0,
        cr4: 0,
        efer: 0,
        pat: PAT_RESET,
        cs: real((vector as u16) << 8, 0x9b),
        ss: data,
        ds: data,
        es: data,
        fs: data,
        gs: data,
        tr: real(0, TSS_AR),
        ldtr: real(0, 0x82),
        gdtr: DescriptorTable {
            base: 0,
            limit: 0xffff,
        },
        idtr: DescriptorTable {
            base: 0,
            limit: 0xffff,
        },
    }
}

/// Writes the boot GDT at `gdt`.
pub fn write_gdt(mem: &mut [u8], gdt: u64) -> Result<(), BootError> {
    let mut bytes = [0u8; GDT_ENTRIES.len() * 8];
    for (chunk, entry) in bytes.chunks_exact_mut(8).zip(GDT_ENTRIES) {
        chunk.copy_from_slice(&entry.to_le_bytes());
    }
    super::write(mem, gdt, &bytes)
}

/// Writes identity page tables for the first 4 GiB at `base` (2 MiB pages, which every
/// long-mode CPU has; 1 GiB pages would need CPUID's Page1GB): PML4, one PDPT with four
/// entries, four page directories. Present and writable; cacheable (PAT index 0).
pub fn write_identity_page_tables(mem: &mut [u8], base: u64) -> Result<(), BootError> {
    const PRESENT_WRITABLE: u64 = 0b11;
    const LARGE: u64 = 1 << 7;
    let mut tables = [0u8; PAGE_TABLES_SIZE as usize];
    let mut put = |table: u64, index: u64, entry: u64| {
        let at = (table * 0x1000 + index * 8) as usize;
        tables[at..at + 8].copy_from_slice(&entry.to_le_bytes());
    };
    put(0, 0, (base + 0x1000) | PRESENT_WRITABLE);
    for gib in 0..4 {
        let directory = 2 + gib;
        put(1, gib, (base + directory * 0x1000) | PRESENT_WRITABLE);
        for entry in 0..512 {
            let address = (gib * 512 + entry) << 21;
            put(directory, entry, address | PRESENT_WRITABLE | LARGE);
        }
    }
    super::write(mem, base, &tables)
}
