//! The fixed ACPI description table (FADT, signature `FACP`): power-management registers,
//! the SCI, the reset register and the DSDT.
//!
//! The table grew with every ACPI revision; a field is read only if it lies inside the
//! table's `length`. The ACPI 1.0 table is 116 bytes (everything up to and including
//! `Flags`), and that much is required. Offsets used (ACPI 6.x, 5.2.9):
//!
//! | offset | field            | offset | field             |
//! |--------|------------------|--------|-------------------|
//! | 36     | FIRMWARE_CTRL (u32) | 88  | PM1_EVT_LEN (u8)  |
//! | 40     | DSDT (u32)       | 89     | PM1_CNT_LEN (u8)  |
//! | 46     | SCI_INT (u16)    | 109    | IAPC_BOOT_ARCH (u16) |
//! | 48     | SMI_CMD (u32)    | 112    | Flags (u32)       |
//! | 52     | ACPI_ENABLE (u8) | 116    | RESET_REG (GAS)   |
//! | 53     | ACPI_DISABLE (u8)| 128    | RESET_VALUE (u8)  |
//! | 56     | PM1a_EVT_BLK (u32) | 132  | X_FIRMWARE_CTRL (u64) |
//! | 60     | PM1b_EVT_BLK (u32) | 140  | X_DSDT (u64)      |
//! | 64     | PM1a_CNT_BLK (u32) | 148  | X_PM1a_EVT_BLK (GAS) |
//! | 68     | PM1b_CNT_BLK (u32) | 160  | X_PM1b_EVT_BLK (GAS) |
//! |        |                  | 172    | X_PM1a_CNT_BLK (GAS) |
//! |        |                  | 184    | X_PM1b_CNT_BLK (GAS) |

use super::{AcpiError, Body, Gas};
use crate::phys::PhysRead;

/// The FADT's signature.
pub const SIGNATURE: &[u8; 4] = b"FACP";
/// Length of the ACPI 1.0 FADT, the least accepted.
pub const MIN_LEN: u32 = 116;

/// `flags` bit: WBINVD works as specified.
pub const FLAG_WBINVD: u32 = 1 << 0;
/// `flags` bit: the reset register is supported.
pub const FLAG_RESET_REG_SUP: u32 = 1 << 10;
/// `flags` bit: hardware-reduced ACPI (no PM1 blocks, no SCI_EN, no SMI_CMD).
pub const FLAG_HW_REDUCED_ACPI: u32 = 1 << 20;
/// `iapc_boot_arch` bit: legacy devices (ISA) may be present.
pub const BOOT_LEGACY_DEVICES: u16 = 1 << 0;
/// `iapc_boot_arch` bit: an 8042 keyboard controller is present.
pub const BOOT_8042: u16 = 1 << 1;
/// `iapc_boot_arch` bit: VGA must not be probed.
pub const BOOT_VGA_NOT_PRESENT: u16 = 1 << 2;
/// `iapc_boot_arch` bit: MSI must not be enabled.
pub const BOOT_MSI_NOT_SUPPORTED: u16 = 1 << 3;
/// `iapc_boot_arch` bit: there is no CMOS RTC.
pub const BOOT_CMOS_RTC_NOT_PRESENT: u16 = 1 << 5;

/// The reset register and the value that resets the machine when written to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// Where to write.
    pub reg: Gas,
    /// What to write.
    pub value: u8,
}

/// The parsed FADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fadt {
    /// The header's revision (1 for ACPI 1.0; QEMU writes 1, 3 or 5).
    pub revision: u8,
    /// The table's length.
    pub length: u32,
    /// Physical address of the FACS: X_FIRMWARE_CTRL if inside the table and non-zero,
    /// else FIRMWARE_CTRL; `None` if both are 0. Not validated (read it with
    /// `facs::read`).
    pub facs: Option<u64>,
    /// Physical address of the DSDT: X_DSDT if inside the table and non-zero, else DSDT;
    /// `None` if both are 0. Not validated (read it with `sdt::Header::read`).
    pub dsdt: Option<u64>,
    /// The GSI (on PC-AT: the ISA IRQ before overrides) of the system control interrupt;
    /// it is level triggered and active low unless an override says otherwise.
    pub sci_int: u16,
    /// I/O port of the SMI command register (0: ACPI mode is always on).
    pub smi_cmd: u32,
    /// Written to `smi_cmd` to enter ACPI mode.
    pub acpi_enable: u8,
    /// Written to `smi_cmd` to leave ACPI mode.
    pub acpi_disable: u8,
    /// PM1a control block: X_PM1a_CNT_BLK if inside the table with a non-zero address,
    /// else a system-I/O GAS at PM1a_CNT_BLK with a width of 8 * PM1_CNT_LEN bits; `None`
    /// when both addresses are 0 (hardware-reduced ACPI).
    pub pm1a_cnt: Option<Gas>,
    /// PM1b control block, chosen like `pm1a_cnt`; usually `None`.
    pub pm1b_cnt: Option<Gas>,
    /// PM1a event block (status register, then enable register, each half its
    /// length), chosen like `pm1a_cnt` from X_PM1a_EVT_BLK and PM1a_EVT_BLK with
    /// PM1_EVT_LEN.
    pub pm1a_evt: Option<Gas>,
    /// PM1b event block, chosen likewise; usually `None`.
    pub pm1b_evt: Option<Gas>,
    /// IA-PC boot architecture flags (`BOOT_*`); 0 for revision 1 tables, where the field
    /// is reserved.
    pub iapc_boot_arch: u16,
    /// Feature flags (`FLAG_*`).
    pub flags: u32,
    /// The reset register, if the flags say it is supported, it lies inside the table and
    /// its address is non-zero.
    pub reset: Option<Reset>,
}

/// Parses the FADT at physical address `addr`.
pub fn parse<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Fadt, AcpiError> {
    let (t, h) = Body::open(mem, addr, SIGNATURE, MIN_LEN)?;
    // Fields past MIN_LEN: read only when inside the table.
    let opt_u64 =
        |off| -> Result<u64, AcpiError> { Ok(if t.holds(off, 8) { t.u64(off)? } else { 0 }) };
    let opt_gas = |off| -> Result<Option<Gas>, AcpiError> {
        Ok(if t.holds(off, Gas::LEN) {
            Some(t.gas(off)?)
        } else {
            None
        })
    };

    let x_dsdt = opt_u64(140)?;
    let dsdt = if x_dsdt != 0 {
        x_dsdt
    } else {
        u64::from(t.u32(40)?)
    };

    let x_facs = opt_u64(132)?;
    let facs = if x_facs != 0 {
        x_facs
    } else {
        u64::from(t.u32(36)?)
    };

    let (evt_len, cnt_len) = (t.u8(88)?, t.u8(89)?);
    let pm1 = |x_off, legacy_off, len: u8| -> Result<Option<Gas>, AcpiError> {
        if let Some(g) = opt_gas(x_off)?.filter(|g| g.address != 0) {
            return Ok(Some(g));
        }
        let port = t.u32(legacy_off)?;
        Ok((port != 0).then(|| Gas {
            space_id: Gas::SYSTEM_IO,
            bit_width: len.saturating_mul(8),
            bit_offset: 0,
            access_size: match len {
                1 => 1,
                2 => 2,
                4 => 3,
                8 => 4,
                _ => 0,
            },
            address: u64::from(port),
        }))
    };

    let flags = t.u32(112)?;
    let reset = if flags & FLAG_RESET_REG_SUP != 0 && t.holds(116, Gas::LEN + 1) {
        let reg = t.gas(116)?;
        let value = t.u8(128)?;
        (reg.address != 0).then_some(Reset { reg, value })
    } else {
        None
    };

    Ok(Fadt {
        revision: h.revision,
        length: h.length,
        facs: (facs != 0).then_some(facs),
        dsdt: (dsdt != 0).then_some(dsdt),
        sci_int: t.u16(46)?,
        smi_cmd: t.u32(48)?,
        acpi_enable: t.u8(52)?,
        acpi_disable: t.u8(53)?,
        pm1a_cnt: pm1(172, 64, cnt_len)?,
        pm1b_cnt: pm1(184, 68, cnt_len)?,
        pm1a_evt: pm1(148, 56, evt_len)?,
        pm1b_evt: pm1(160, 60, evt_len)?,
        iapc_boot_arch: if h.revision >= 2 { t.u16(109)? } else { 0 },
        flags,
        reset,
    })
}
