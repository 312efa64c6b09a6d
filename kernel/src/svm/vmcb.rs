//! Field offsets of the control and state-save areas (the whole table, not all used yet).
#![allow(dead_code)]

//! The AMD virtual machine control block (VMCB): offsets of the fields Facet uses, and
//! access through the direct map. Field offsets are from the AMD64 Architecture
//! Programmer's Manual, volume 2, appendix B.

use crate::mem::direct_map::virt;

// The state-save fields the MTD tables name live with the tables.
pub use facet_kcore::vcpu_state::vmcb::*;

pub const INTERCEPT_CR: u64 = 0x000;
pub const INTERCEPT_EXC: u64 = 0x008;
pub const INTERCEPT_MISC1: u64 = 0x00c;
pub const INTERCEPT_MISC2: u64 = 0x010;
pub const IOPM_BASE: u64 = 0x040;
pub const MSRPM_BASE: u64 = 0x048;
pub const TSC_OFFSET: u64 = 0x050;
pub const ASID: u64 = 0x058;
pub const TLB_CONTROL: u64 = 0x05c;
pub const VINTR: u64 = 0x060;
pub const INT_SHADOW: u64 = 0x068;
pub const EXITCODE: u64 = 0x070;
pub const EXITINFO1: u64 = 0x078;
pub const EXITINFO2: u64 = 0x080;
pub const EXITINTINFO: u64 = 0x088;
pub const NP_ENABLE: u64 = 0x090;
pub const EVENTINJ: u64 = 0x0a8;
pub const N_CR3: u64 = 0x0b0;
pub const NRIP: u64 = 0x0c8;

pub const CPL: u64 = 0x4cb;
pub const DR6: u64 = 0x568;

/// A VMCB in a pool frame, by physical address.
#[derive(Clone, Copy)]
pub struct Vmcb(pub u64);

impl Vmcb {
    pub fn r64(self, at: u64) -> u64 {
        // SAFETY: `self.0` is the physical address of a VMCB frame the Ec owns (direct
        // mapped), `at` an offset inside it; the CPU does not touch the VMCB outside
        // VMRUN, which runs on this CPU only.
        unsafe { core::ptr::read_volatile(virt(self.0 + at) as *const u64) }
    }
    pub fn w64(self, at: u64, v: u64) {
        // SAFETY: as for `r64`.
        unsafe { core::ptr::write_volatile(virt(self.0 + at) as *mut u64, v) }
    }
    pub fn r32(self, at: u64) -> u32 {
        // SAFETY: as for `r64`.
        unsafe { core::ptr::read_volatile(virt(self.0 + at) as *const u32) }
    }
    pub fn w32(self, at: u64, v: u32) {
        // SAFETY: as for `r64`.
        unsafe { core::ptr::write_volatile(virt(self.0 + at) as *mut u32, v) }
    }
    /// A segment register: (selector, attributes, limit, base).
    pub fn seg(self, at: u64) -> (u16, u16, u32, u64) {
        let w = self.r64(at);
        (
            w as u16,
            (w >> 16) as u16,
            (w >> 32) as u32,
            self.r64(at + 8),
        )
    }
    pub fn set_seg(self, at: u64, sel: u16, attr: u16, limit: u32, base: u64) {
        self.w64(at, sel as u64 | (attr as u64) << 16 | (limit as u64) << 32);
        self.w64(at + 8, base);
    }

    /// Keeps a copy of the guest state (the state-save area) in the page after the
    /// VMCB, which the kernel allocates with it and the CPU never reads.
    pub fn snapshot(self) {
        // SAFETY: both ranges lie in the two frames the vCPU owns (see `r64`) and do
        // not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                virt(self.0 + SAVE_AREA) as *const u8,
                virt(self.0 + 4096) as *mut u8,
                SAVE_AREA_LEN,
            )
        }
    }

    /// Puts the guest state of the last [`Vmcb::snapshot`] back.
    pub fn restore_snapshot(self) {
        // SAFETY: as for `snapshot`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                virt(self.0 + 4096) as *const u8,
                virt(self.0 + SAVE_AREA) as *mut u8,
                SAVE_AREA_LEN,
            )
        }
    }
}

/// Where in the page after the VMCB the kernel notes that the vCPU's TLB entries must
/// go before its next VMRUN.
const FLUSH_FLAG: u64 = 4096 + 0xf00;
/// Where it notes that the IRET intercept is its own (`facet_kcore::svm_inject`).
const OWN_IRET_FLAG: u64 = 4096 + 0xf08;

impl Vmcb {
    /// The vCPU's cached translations must go before its next VMRUN.
    pub fn request_flush(self) {
        self.w64(FLUSH_FLAG, 1);
    }

    /// Whether the IRET intercept stands for an interrupt window (`svm_inject`).
    pub fn own_iret(self) -> bool {
        self.r64(OWN_IRET_FLAG) != 0
    }

    pub fn set_own_iret(self, own: bool) {
        self.w64(OWN_IRET_FLAG, own as u64);
    }

    /// Takes the request made with [`Vmcb::request_flush`].
    pub fn take_flush(self) -> bool {
        let f = self.r64(FLUSH_FLAG) != 0;
        self.w64(FLUSH_FLAG, 0);
        f
    }
}

/// The state-save area: from ES to the end of the last field Facet uses.
const SAVE_AREA: u64 = ES;
const SAVE_AREA_LEN: usize = 0x300;
