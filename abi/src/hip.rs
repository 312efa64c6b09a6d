//! The Hypervisor Information Page (HIP): what the kernel tells its roottask.
//!
//! The HIP is one page in the reference's layout: a fixed header, 64 CPU descriptors,
//! 9 I/O APIC descriptors and then memory descriptors up to `length`. All fields are
//! little-endian. The page is read and written through [`HipReader`] and [`HipWriter`]
//! over plain byte slices so that both sides stay free of unsafe code.

use crate::config::{NUM_CPU, NUM_IOAPIC, PAGE_SIZE};

/// "NOVA" in little-endian byte order.
pub const SIGNATURE: u32 = 0x4156_4f4e;

/// Feature flag: an IOMMU is in use.
pub const FEAT_IOMMU: u32 = 1 << 0;
/// Feature flag: Intel VMX is available.
pub const FEAT_VMX: u32 = 1 << 1;
/// Feature flag: AMD SVM is available.
pub const FEAT_SVM: u32 = 1 << 2;
/// Feature flag: booted from UEFI.
pub const FEAT_UEFI: u32 = 1 << 3;

/// Byte offsets of the header fields.
pub mod off {
    pub const SIGNATURE: usize = 0x0;
    pub const CHECKSUM: usize = 0x4;
    pub const LENGTH: usize = 0x6;
    pub const CPU_OFFS: usize = 0x8;
    pub const CPU_SIZE: usize = 0xa;
    pub const IOAPIC_OFFS: usize = 0xc;
    pub const IOAPIC_SIZE: usize = 0xe;
    pub const MEM_OFFS: usize = 0x10;
    pub const MEM_SIZE: usize = 0x12;
    pub const API_FLG: usize = 0x14;
    pub const API_VER: usize = 0x18;
    pub const SEL_NUM: usize = 0x1c;
    pub const SEL_EXC: usize = 0x20;
    pub const SEL_VMI: usize = 0x24;
    pub const SEL_GSI: usize = 0x28;
    pub const CFG_PAGE: usize = 0x2c;
    pub const CFG_UTCB: usize = 0x30;
    pub const FREQ_TSC: usize = 0x34;
    pub const FREQ_BUS: usize = 0x38;
    pub const PCI_BUS_START: usize = 0x3c;
    pub const MCFG_BASE: usize = 0x40;
    pub const MCFG_SIZE: usize = 0x48;
    pub const DMAR_TABLE: usize = 0x50;
    pub const HPET_BASE: usize = 0x58;
    pub const CAP_VMX_SEC_EXEC: usize = 0x60;
    pub const XSDT_RSDT_TABLE: usize = 0x68;
    pub const PM1A_CNT: usize = 0x70;
    pub const PM1B_CNT: usize = 0x7c;
    /// First CPU descriptor.
    pub const CPU_DESC: usize = 0x88;
}

/// Size of one CPU descriptor.
pub const CPU_DESC_SIZE: usize = 48;
/// Size of one I/O APIC descriptor.
pub const IOAPIC_DESC_SIZE: usize = 16;
/// Size of one memory descriptor.
pub const MEM_DESC_SIZE: usize = 24;
/// Offset of the first I/O APIC descriptor.
pub const IOAPIC_DESC_OFFSET: usize = off::CPU_DESC + NUM_CPU * CPU_DESC_SIZE;
/// Offset of the first memory descriptor.
pub const MEM_DESC_OFFSET: usize = IOAPIC_DESC_OFFSET + NUM_IOAPIC * IOAPIC_DESC_SIZE;
/// How many memory descriptors fit in the page.
pub const MAX_MEM_DESC: usize = (PAGE_SIZE - MEM_DESC_OFFSET) / MEM_DESC_SIZE;

/// Memory descriptor type of the kernel's own image.
pub const MEM_HYPERVISOR: u32 = 0xffff_ffff;
/// Memory descriptor type of a multiboot module (aux: physical address of its command line).
pub const MEM_MB_MODULE: u32 = 0xffff_fffe;
/// E820 type of usable RAM.
pub const MEM_AVAILABLE: u32 = 1;

/// One memory descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemDesc {
    /// Physical start address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// E820 type, [`MEM_HYPERVISOR`] or [`MEM_MB_MODULE`].
    pub mem_type: u32,
    /// For modules, the physical address of the command line (0: none).
    pub aux: u32,
}

/// One CPU descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CpuDesc {
    /// Bit 0: the CPU is enabled.
    pub flags: u8,
    /// SMT thread number.
    pub thread: u8,
    /// Core number.
    pub core: u8,
    /// Package number.
    pub package: u8,
    /// ACPI processor id.
    pub acpi_id: u8,
    /// Local APIC id, version, spurious vector register and LVT entries, in order:
    /// id, version, svr, reserved, timer, lint0, lint1, error, perfm, therm.
    pub lapic: [u32; 10],
}

/// One I/O APIC descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IoapicDesc {
    /// I/O APIC id.
    pub id: u32,
    /// Version register.
    pub version: u32,
    /// First GSI routed through it.
    pub gsi_base: u32,
    /// Physical MMIO base.
    pub base: u32,
}

fn rd<const N: usize>(page: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    if let Some(s) = page.get(at..at + N) {
        b.copy_from_slice(s);
    }
    b
}

/// Reads a HIP from its page (or any prefix of it); out-of-range reads give zero.
#[derive(Clone, Copy)]
pub struct HipReader<'a> {
    page: &'a [u8],
}

impl<'a> HipReader<'a> {
    /// Wraps the bytes of a HIP.
    pub fn new(page: &'a [u8]) -> Self {
        HipReader { page }
    }
    /// A 16-bit field.
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(rd(self.page, at))
    }
    /// A 32-bit field.
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(rd(self.page, at))
    }
    /// A 64-bit field.
    pub fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(rd(self.page, at))
    }
    /// The signature, length within the page, and checksum all hold.
    pub fn is_valid(&self) -> bool {
        let len = self.u16(off::LENGTH) as usize;
        self.u32(off::SIGNATURE) == SIGNATURE
            && len >= MEM_DESC_OFFSET
            && len <= self.page.len().min(PAGE_SIZE)
            && checksum16(&self.page[..len]) == 0
    }
    /// Number of memory descriptors.
    pub fn mem_count(&self) -> usize {
        let len = self.u16(off::LENGTH) as usize;
        let start = self.u16(off::MEM_OFFS) as usize;
        let size = self.u16(off::MEM_SIZE) as usize;
        if size == 0 || len < start {
            0
        } else {
            (len - start) / size
        }
    }
    /// Memory descriptor `i`.
    pub fn mem(&self, i: usize) -> MemDesc {
        let at = self.u16(off::MEM_OFFS) as usize + i * self.u16(off::MEM_SIZE) as usize;
        MemDesc {
            addr: self.u64(at),
            size: self.u64(at + 8),
            mem_type: self.u32(at + 16),
            aux: self.u32(at + 20),
        }
    }
    /// CPU descriptor `i`.
    pub fn cpu(&self, i: usize) -> CpuDesc {
        let at = self.u16(off::CPU_OFFS) as usize + i * self.u16(off::CPU_SIZE) as usize;
        let mut lapic = [0u32; 10];
        for (n, v) in lapic.iter_mut().enumerate() {
            *v = self.u32(at + 8 + 4 * n);
        }
        CpuDesc {
            flags: self.page.get(at).copied().unwrap_or(0),
            thread: self.page.get(at + 1).copied().unwrap_or(0),
            core: self.page.get(at + 2).copied().unwrap_or(0),
            package: self.page.get(at + 3).copied().unwrap_or(0),
            acpi_id: self.page.get(at + 4).copied().unwrap_or(0),
            lapic,
        }
    }
    /// I/O APIC descriptor `i`.
    pub fn ioapic(&self, i: usize) -> IoapicDesc {
        let at = self.u16(off::IOAPIC_OFFS) as usize + i * self.u16(off::IOAPIC_SIZE) as usize;
        IoapicDesc {
            id: self.u32(at),
            version: self.u32(at + 4),
            gsi_base: self.u32(at + 8),
            base: self.u32(at + 12),
        }
    }
}

/// The 16-bit word sum the reference uses: all 16-bit
/// little-endian words of the HIP, including the checksum, add up to zero.
pub fn checksum16(bytes: &[u8]) -> u16 {
    bytes
        .chunks(2)
        .map(|w| u16::from_le_bytes([w[0], *w.get(1).unwrap_or(&0)]))
        .fold(0u16, u16::wrapping_add)
}

/// Builds a HIP in a page-sized buffer.
pub struct HipWriter<'a> {
    page: &'a mut [u8],
    mem_count: usize,
}

impl<'a> HipWriter<'a> {
    /// Starts a HIP: zeroes the buffer and writes the fixed header fields.
    /// Returns `None` if the buffer is smaller than a page.
    pub fn new(page: &'a mut [u8]) -> Option<Self> {
        if page.len() < PAGE_SIZE {
            return None;
        }
        page.fill(0);
        let mut w = HipWriter { page, mem_count: 0 };
        w.put_u32(off::SIGNATURE, SIGNATURE);
        w.put_u16(off::CPU_OFFS, off::CPU_DESC as u16);
        w.put_u16(off::CPU_SIZE, CPU_DESC_SIZE as u16);
        w.put_u16(off::IOAPIC_OFFS, IOAPIC_DESC_OFFSET as u16);
        w.put_u16(off::IOAPIC_SIZE, IOAPIC_DESC_SIZE as u16);
        w.put_u16(off::MEM_OFFS, MEM_DESC_OFFSET as u16);
        w.put_u16(off::MEM_SIZE, MEM_DESC_SIZE as u16);
        w.put_u32(off::API_VER, crate::config::API_VERSION);
        w.put_u32(off::SEL_NUM, crate::config::NUM_OBJ_SELECTORS);
        w.put_u32(off::SEL_EXC, crate::config::NUM_EXC);
        w.put_u32(off::SEL_VMI, crate::config::NUM_VMI);
        w.put_u32(off::SEL_GSI, crate::config::NUM_GSI);
        w.put_u32(off::CFG_PAGE, PAGE_SIZE as u32);
        w.put_u32(off::CFG_UTCB, PAGE_SIZE as u32);
        Some(w)
    }
    /// Writes a 16-bit field.
    pub fn put_u16(&mut self, at: usize, v: u16) {
        self.page[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    /// Writes a 32-bit field.
    pub fn put_u32(&mut self, at: usize, v: u32) {
        self.page[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// Writes a 64-bit field.
    pub fn put_u64(&mut self, at: usize, v: u64) {
        self.page[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    /// Sets feature flags.
    pub fn add_features(&mut self, flags: u32) {
        let f = HipReader::new(self.page).u32(off::API_FLG) | flags;
        self.put_u32(off::API_FLG, f);
    }
    /// Fills CPU descriptor `i` (ignored beyond [`NUM_CPU`]).
    pub fn set_cpu(&mut self, i: usize, cpu: &CpuDesc) {
        if i >= NUM_CPU {
            return;
        }
        let at = off::CPU_DESC + i * CPU_DESC_SIZE;
        self.page[at] = cpu.flags;
        self.page[at + 1] = cpu.thread;
        self.page[at + 2] = cpu.core;
        self.page[at + 3] = cpu.package;
        self.page[at + 4] = cpu.acpi_id;
        for (n, v) in cpu.lapic.iter().enumerate() {
            self.put_u32(at + 8 + 4 * n, *v);
        }
    }
    /// Fills I/O APIC descriptor `i` (ignored beyond [`NUM_IOAPIC`]).
    pub fn set_ioapic(&mut self, i: usize, d: &IoapicDesc) {
        if i >= NUM_IOAPIC {
            return;
        }
        let at = IOAPIC_DESC_OFFSET + i * IOAPIC_DESC_SIZE;
        self.put_u32(at, d.id);
        self.put_u32(at + 4, d.version);
        self.put_u32(at + 8, d.gsi_base);
        self.put_u32(at + 12, d.base);
    }
    /// Appends a memory descriptor; `false` if the page is full.
    pub fn push_mem(&mut self, d: MemDesc) -> bool {
        if self.mem_count >= MAX_MEM_DESC {
            return false;
        }
        let at = MEM_DESC_OFFSET + self.mem_count * MEM_DESC_SIZE;
        self.put_u64(at, d.addr);
        self.put_u64(at + 8, d.size);
        self.put_u32(at + 16, d.mem_type);
        self.put_u32(at + 20, d.aux);
        self.mem_count += 1;
        true
    }
    /// Sets the length and checksum. Call after the last change.
    pub fn finish(&mut self) {
        let len = MEM_DESC_OFFSET + self.mem_count * MEM_DESC_SIZE;
        self.put_u16(off::LENGTH, len as u16);
        self.put_u16(off::CHECKSUM, 0);
        let sum = checksum16(&self.page[..len]);
        self.put_u16(off::CHECKSUM, 0u16.wrapping_sub(sum));
    }
}

#[cfg(test)]
mod tests;
