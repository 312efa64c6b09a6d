//! The multiple APIC description table (MADT, signature `APIC`): processors, I/O APICs,
//! interrupt source overrides and NMI wiring.
//!
//! Layout (ACPI 6.x, 5.2.12): header (36), local APIC address (u32 at 36), flags (u32 at
//! 40, bit 0 PCAT_COMPAT: dual 8259s are present), then entries from offset 44, each
//! starting with type (u8) and length (u8, of the whole entry). Types read here:
//!
//! | type | entry                     | length | fields                                       |
//! |------|---------------------------|--------|----------------------------------------------|
//! | 0    | processor local APIC      | 8      | uid u8 @2, APIC ID u8 @3, flags u32 @4       |
//! | 1    | I/O APIC                  | 12     | id u8 @2, address u32 @4, GSI base u32 @8    |
//! | 2    | interrupt source override | 10     | bus u8 @2, source u8 @3, GSI u32 @4, flags u16 @8 |
//! | 3    | NMI source                | 8      | flags u16 @2, GSI u32 @4                     |
//! | 4    | local APIC NMI            | 6      | uid u8 @2 (0xff: all), flags u16 @3, LINT# u8 @5 |
//! | 5    | local APIC address override | 12   | address u64 @4                               |
//! | 9    | processor local x2APIC    | 16     | x2APIC ID u32 @4, flags u32 @8, uid u32 @12  |
//! | 10   | local x2APIC NMI          | 12     | flags u16 @2, uid u32 @4 (all ones: all), LINT# u8 @8 |
//!
//! An entry longer than its type's length is accepted (later revisions extend entries);
//! a shorter one is an error, as is one below the 2-byte header or past the table end.
//! Other types are skipped by their length.

use super::{push, AcpiError, Body};
use crate::phys::PhysRead;

/// The MADT's signature.
pub const SIGNATURE: &[u8; 4] = b"APIC";
/// Processors kept (the interface's CPU limit); further ones are counted in
/// [`Madt::dropped_cpus`].
pub const MAX_CPUS: usize = facet_abi::config::NUM_CPU;
/// I/O APICs kept (the interface's I/O APIC limit); further ones are counted in
/// [`Madt::dropped_ioapics`].
pub const MAX_IOAPICS: usize = facet_abi::config::NUM_IOAPIC;
/// Interrupt source overrides kept; further ones are counted in
/// [`Madt::dropped_overrides`].
pub const MAX_OVERRIDES: usize = 16;
/// NMI sources kept; further ones are counted in [`Madt::dropped_nmis`].
pub const MAX_NMI_SOURCES: usize = 4;
/// Local APIC NMI entries kept (firmware often lists one per processor); further ones are
/// counted in [`Madt::dropped_nmis`].
pub const MAX_LAPIC_NMIS: usize = MAX_CPUS;
/// [`LapicNmi::acpi_id`] of an entry that applies to every processor.
pub const ALL_PROCESSORS: u32 = u32::MAX;

/// Bytes before the first entry.
const ENTRIES: u32 = 44;
/// Processor flags.
const CPU_ENABLED: u32 = 1 << 0;
const CPU_ONLINE_CAPABLE: u32 = 1 << 1;

/// One processor, from a local APIC (type 0) or local x2APIC (type 9) entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    /// ACPI processor UID (matches the processor object in the namespace).
    pub acpi_id: u32,
    /// Its local APIC ID (x2APIC ID for type 9 entries).
    pub apic_id: u32,
    /// Flags bit 0: the processor is ready to use (start it).
    pub enabled: bool,
    /// Flags bit 1: disabled now, but the platform can enable it at run time (hot plug).
    /// Never set together with `enabled` by conforming firmware.
    pub online_capable: bool,
    /// From a local x2APIC entry (type 9).
    pub x2apic: bool,
}

/// One I/O APIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ioapic {
    /// Its I/O APIC ID.
    pub id: u8,
    /// Physical address of its registers.
    pub addr: u32,
    /// First global system interrupt (GSI) it serves.
    pub gsi_base: u32,
}

/// MPS INTI flags of an override or NMI entry: polarity in bits 1:0, trigger mode in
/// bits 3:2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntiFlags(pub u16);

/// Interrupt polarity from [`IntiFlags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// 00: as the bus specifies (ISA: active high).
    Conforms,
    /// 01.
    ActiveHigh,
    /// 10: reserved value.
    Reserved,
    /// 11.
    ActiveLow,
}

/// Interrupt trigger mode from [`IntiFlags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// 00: as the bus specifies (ISA: edge).
    Conforms,
    /// 01.
    Edge,
    /// 10: reserved value.
    Reserved,
    /// 11.
    Level,
}

impl IntiFlags {
    /// Bits 1:0.
    pub fn polarity(self) -> Polarity {
        match self.0 & 3 {
            0 => Polarity::Conforms,
            1 => Polarity::ActiveHigh,
            2 => Polarity::Reserved,
            _ => Polarity::ActiveLow,
        }
    }

    /// Bits 3:2.
    pub fn trigger(self) -> Trigger {
        match (self.0 >> 2) & 3 {
            0 => Trigger::Conforms,
            1 => Trigger::Edge,
            2 => Trigger::Reserved,
            _ => Trigger::Level,
        }
    }
}

/// An interrupt source override: a bus IRQ (for bus 0, ISA) that is not identity-mapped
/// to a GSI or does not use the bus's polarity and trigger mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Override {
    /// The bus (0: ISA).
    pub bus: u8,
    /// The bus-relative IRQ.
    pub irq: u8,
    /// The GSI it arrives at.
    pub gsi: u32,
    /// Its polarity and trigger mode.
    pub flags: IntiFlags,
}

/// A GSI that carries an NMI (type 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NmiSource {
    /// Polarity and trigger mode.
    pub flags: IntiFlags,
    /// The GSI.
    pub gsi: u32,
}

/// A local APIC LINT pin wired to NMI (types 4 and 10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LapicNmi {
    /// ACPI processor UID it applies to, or [`ALL_PROCESSORS`].
    pub acpi_id: u32,
    /// Polarity and trigger mode.
    pub flags: IntiFlags,
    /// LINT pin: 0 or 1.
    pub lint: u8,
}

/// Where an ISA IRQ arrives, with overrides and ISA defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqRoute {
    /// The GSI.
    pub gsi: u32,
    /// Active low (else active high).
    pub active_low: bool,
    /// Level triggered (else edge).
    pub level: bool,
}

/// The parsed MADT. Lists are in table order; only the first `*_count` entries of each
/// array are valid (use the accessor methods).
#[derive(Clone, Debug)]
pub struct Madt {
    /// Physical address of the local APIC registers: the 64-bit override (type 5) if the
    /// table has one (the last, if several), else the 32-bit field.
    pub lapic_addr: u64,
    /// Flags bit 0: the PC's dual 8259 PICs are present (mask them before using APICs).
    pub pcat_compat: bool,
    /// Processors that are enabled or online capable, without duplicate APIC IDs.
    pub cpus: [Cpu; MAX_CPUS],
    /// Valid entries in `cpus`.
    pub cpu_count: usize,
    /// I/O APICs.
    pub ioapics: [Ioapic; MAX_IOAPICS],
    /// Valid entries in `ioapics`.
    pub ioapic_count: usize,
    /// Interrupt source overrides.
    pub overrides: [Override; MAX_OVERRIDES],
    /// Valid entries in `overrides`.
    pub override_count: usize,
    /// NMI sources (type 3).
    pub nmi_sources: [NmiSource; MAX_NMI_SOURCES],
    /// Valid entries in `nmi_sources`.
    pub nmi_source_count: usize,
    /// Local APIC NMI pins (types 4 and 10).
    pub lapic_nmis: [LapicNmi; MAX_LAPIC_NMIS],
    /// Valid entries in `lapic_nmis`.
    pub lapic_nmi_count: usize,
    /// Processor entries that were neither enabled nor online capable, had the invalid
    /// APIC ID (0xff for type 0, 0xffff_ffff for type 9), or repeated an APIC ID already
    /// kept; not an error.
    pub ignored_cpus: usize,
    /// Usable processors beyond [`MAX_CPUS`].
    pub dropped_cpus: usize,
    /// I/O APICs beyond [`MAX_IOAPICS`].
    pub dropped_ioapics: usize,
    /// Overrides beyond [`MAX_OVERRIDES`].
    pub dropped_overrides: usize,
    /// NMI entries beyond [`MAX_NMI_SOURCES`] or [`MAX_LAPIC_NMIS`].
    pub dropped_nmis: usize,
}

impl Madt {
    /// The processors kept.
    pub fn cpus(&self) -> &[Cpu] {
        // The fields are public: clamp rather than trust the counts.
        &self.cpus[..self.cpu_count.min(MAX_CPUS)]
    }

    /// The I/O APICs kept.
    pub fn ioapics(&self) -> &[Ioapic] {
        &self.ioapics[..self.ioapic_count.min(MAX_IOAPICS)]
    }

    /// The interrupt source overrides kept.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides[..self.override_count.min(MAX_OVERRIDES)]
    }

    /// The NMI sources kept.
    pub fn nmi_sources(&self) -> &[NmiSource] {
        &self.nmi_sources[..self.nmi_source_count.min(MAX_NMI_SOURCES)]
    }

    /// The local APIC NMI pins kept.
    pub fn lapic_nmis(&self) -> &[LapicNmi] {
        &self.lapic_nmis[..self.lapic_nmi_count.min(MAX_LAPIC_NMIS)]
    }

    /// Where ISA IRQ `irq` arrives: the first override for bus 0 and that IRQ, with
    /// "conforms" (and reserved) polarity and trigger meaning ISA's active high and edge;
    /// without an override, GSI `irq`, active high, edge.
    pub fn isa_irq(&self, irq: u8) -> IrqRoute {
        match self.overrides().iter().find(|o| o.bus == 0 && o.irq == irq) {
            Some(o) => IrqRoute {
                gsi: o.gsi,
                active_low: o.flags.polarity() == Polarity::ActiveLow,
                level: o.flags.trigger() == Trigger::Level,
            },
            None => IrqRoute {
                gsi: u32::from(irq),
                active_low: false,
                level: false,
            },
        }
    }

    fn push_cpu(&mut self, cpu: Cpu) {
        if self.cpus().iter().any(|c| c.apic_id == cpu.apic_id) {
            self.ignored_cpus += 1;
            return;
        }
        push(
            &mut self.cpus,
            &mut self.cpu_count,
            &mut self.dropped_cpus,
            cpu,
        );
    }

    fn push_lapic_nmi(&mut self, nmi: LapicNmi) {
        push(
            &mut self.lapic_nmis,
            &mut self.lapic_nmi_count,
            &mut self.dropped_nmis,
            nmi,
        );
    }
}

/// Parses the MADT at physical address `addr`.
pub fn parse<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Madt, AcpiError> {
    let (t, _) = Body::open(mem, addr, SIGNATURE, ENTRIES)?;
    let flags = t.u32(40)?;
    let mut m = Madt {
        lapic_addr: u64::from(t.u32(36)?),
        pcat_compat: flags & 1 != 0,
        cpus: [Cpu::default(); MAX_CPUS],
        cpu_count: 0,
        ioapics: [Ioapic::default(); MAX_IOAPICS],
        ioapic_count: 0,
        overrides: [Override::default(); MAX_OVERRIDES],
        override_count: 0,
        nmi_sources: [NmiSource::default(); MAX_NMI_SOURCES],
        nmi_source_count: 0,
        lapic_nmis: [LapicNmi::default(); MAX_LAPIC_NMIS],
        lapic_nmi_count: 0,
        ignored_cpus: 0,
        dropped_cpus: 0,
        dropped_ioapics: 0,
        dropped_overrides: 0,
        dropped_nmis: 0,
    };
    let mut off = ENTRIES;
    while off < t.len {
        // `entry` guarantees len >= 2, so the walk advances; off + len <= t.len.
        let (kind, len) = t.entry(off, false)?;
        let need = |min| t.need(off, kind, len, min);
        match kind {
            0 => {
                need(8)?;
                let flags = t.u32(off + 4)?;
                let apic_id = t.u8(off + 3)?;
                let cpu = Cpu {
                    acpi_id: u32::from(t.u8(off + 2)?),
                    apic_id: u32::from(apic_id),
                    enabled: flags & CPU_ENABLED != 0,
                    online_capable: flags & CPU_ONLINE_CAPABLE != 0,
                    x2apic: false,
                };
                if apic_id == 0xff || !(cpu.enabled || cpu.online_capable) {
                    m.ignored_cpus += 1;
                } else {
                    m.push_cpu(cpu);
                }
            }
            1 => {
                need(12)?;
                let io = Ioapic {
                    id: t.u8(off + 2)?,
                    addr: t.u32(off + 4)?,
                    gsi_base: t.u32(off + 8)?,
                };
                push(
                    &mut m.ioapics,
                    &mut m.ioapic_count,
                    &mut m.dropped_ioapics,
                    io,
                );
            }
            2 => {
                need(10)?;
                let o = Override {
                    bus: t.u8(off + 2)?,
                    irq: t.u8(off + 3)?,
                    gsi: t.u32(off + 4)?,
                    flags: IntiFlags(t.u16(off + 8)?),
                };
                push(
                    &mut m.overrides,
                    &mut m.override_count,
                    &mut m.dropped_overrides,
                    o,
                );
            }
            3 => {
                need(8)?;
                let n = NmiSource {
                    flags: IntiFlags(t.u16(off + 2)?),
                    gsi: t.u32(off + 4)?,
                };
                push(
                    &mut m.nmi_sources,
                    &mut m.nmi_source_count,
                    &mut m.dropped_nmis,
                    n,
                );
            }
            4 => {
                need(6)?;
                let uid = t.u8(off + 2)?;
                m.push_lapic_nmi(LapicNmi {
                    acpi_id: if uid == 0xff {
                        ALL_PROCESSORS
                    } else {
                        u32::from(uid)
                    },
                    flags: IntiFlags(t.u16(off + 3)?),
                    lint: t.u8(off + 5)?,
                });
            }
            5 => {
                need(12)?;
                m.lapic_addr = t.u64(off + 4)?;
            }
            9 => {
                need(16)?;
                let flags = t.u32(off + 8)?;
                let cpu = Cpu {
                    acpi_id: t.u32(off + 12)?,
                    apic_id: t.u32(off + 4)?,
                    enabled: flags & CPU_ENABLED != 0,
                    online_capable: flags & CPU_ONLINE_CAPABLE != 0,
                    x2apic: true,
                };
                if cpu.apic_id == u32::MAX || !(cpu.enabled || cpu.online_capable) {
                    m.ignored_cpus += 1;
                } else {
                    m.push_cpu(cpu);
                }
            }
            10 => {
                need(12)?;
                m.push_lapic_nmi(LapicNmi {
                    acpi_id: t.u32(off + 4)?,
                    flags: IntiFlags(t.u16(off + 2)?),
                    lint: t.u8(off + 8)?,
                });
            }
            _ => {}
        }
        off += len;
    }
    Ok(m)
}
