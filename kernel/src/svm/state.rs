//! Moving a vCPU's state between its VMCB (plus the general registers the kernel keeps)
//! and a VMM's UTCB, for the parts a message transfer descriptor (MTD) selects, walking
//! the tables of `facet_kcore::vcpu_state`.

use facet_abi::mtd;
use facet_abi::utcb as u;
use facet_kcore::svm_inject;
use facet_kcore::vcpu_state::start;
use facet_kcore::vcpu_state::svm::{REGS, SEGS};

use super::vmcb::{self, Vmcb};
use crate::arch::regs::Frame;
use crate::utcb::{read_word as rd, write_word as wr};

/// MTD bits [`load`] and [`save`] move by hand before they look at the tables (the
/// tables' entries for them are skipped).
const BY_HAND: u32 = mtd::GPR_ACDB | mtd::RIP_LEN | mtd::GPR_BSD | mtd::GPR_R8_R15;
/// The MTD bits [`load_plain`] and [`save_plain`] move: the general registers, RSP, RIP
/// (and the length), RFLAGS, the qualification (never applied) and the TSC offset. None
/// of them is in the tables' way, and none can make VMRUN refuse the guest, so a reply
/// that carries only these needs neither the tables nor a snapshot
/// (`crate::vcpu::PLAIN_MTD` is the same set).
pub const PLAIN: u32 = BY_HAND | mtd::RSP | mtd::RFLAGS | mtd::QUAL | mtd::TSC;
/// The MTD bits the register and segment tables carry.
const REGS_MTD: u32 = mask(&REGS);
const SEGS_MTD: u32 = mask(&SEGS);

const fn mask(table: &[(usize, u64, u32)]) -> u32 {
    let mut m = 0;
    let mut i = 0;
    while i < table.len() {
        m |= table[i].2;
        i += 1;
    }
    m
}

/// Writes the state `m` selects into the VMM's UTCB (a VM-exit message).
pub fn load(utcb: u64, v: Vmcb, f: &mut Frame, m: u32) {
    if utcb == 0 {
        return;
    }
    // What most exits carry by hand; the tables only for the rest, and not even looked
    // at when the MTD asks for nothing of theirs.
    load_plain(utcb, v, f, m);
    let rest = m & !PLAIN;
    if rest & REGS_MTD != 0 {
        for (at, field, bit) in REGS {
            if rest & bit != 0 {
                wr(utcb, at, v.r64(field));
            }
        }
    }
    if rest & SEGS_MTD != 0 {
        for (at, field, bit) in SEGS {
            if m & bit != 0 {
                let (sel, attr, limit, base) = v.seg(field);
                wr(
                    utcb,
                    at,
                    sel as u64 | (attr as u64) << 16 | (limit as u64) << 32,
                );
                wr(utcb, at + 8, base);
            }
        }
    }
    load_rest(utcb, v, m)
}

/// Writes the state of the [`PLAIN`] bits of `m` into the VMM's UTCB (a thread's, so
/// there is one), with the message's MTD and items words: the whole message when `m` has
/// no other bit (the VM-exit fast path), the first part of [`load`]'s otherwise.
#[inline(never)]
pub fn load_plain(utcb: u64, v: Vmcb, f: &mut Frame, m: u32) {
    crate::vcpu::gprs_to_utcb(utcb, f, m);
    if m & mtd::GPR_ACDB != 0 {
        wr(utcb, u::RAX, v.r64(vmcb::RAX));
    }
    if m & mtd::RIP_LEN != 0 {
        let (rip, nrip) = (v.r64(vmcb::RIP), v.r64(vmcb::NRIP));
        wr(utcb, u::RIP, rip);
        wr(utcb, u::INST_LEN, nrip.saturating_sub(rip));
    }
    if m & (mtd::RSP | mtd::RFLAGS | mtd::QUAL | mtd::TSC) != 0 {
        if m & mtd::RSP != 0 {
            wr(utcb, u::RSP, v.r64(vmcb::RSP));
        }
        if m & mtd::RFLAGS != 0 {
            wr(utcb, u::RFLAGS, v.r64(vmcb::RFLAGS));
        }
        if m & mtd::QUAL != 0 {
            wr(utcb, u::QUAL, v.r64(vmcb::EXITINFO1));
            wr(utcb, u::QUAL + 8, v.r64(vmcb::EXITINFO2));
        }
        if m & mtd::TSC != 0 {
            wr(utcb, u::TSC_VAL, crate::arch::cpu::tsc());
            wr(utcb, u::TSC_OFF, v.r64(vmcb::TSC_OFFSET));
        }
    }
    wr(utcb, u::MTD, m as u64);
    wr(utcb, u::ITEMS, u::STATE_WORDS);
}

/// [`load`]'s state outside the tables and [`PLAIN`].
#[inline(always)]
fn load_rest(utcb: u64, v: Vmcb, m: u32) {
    if m & mtd::INJ != 0 {
        // An event not delivered yet, as the VMM wrote it (`facet_kcore::svm_inject`).
        let inj = svm_inject::pending(
            v.r64(vmcb::EVENTINJ),
            v.r64(vmcb::VINTR),
            v.r32(vmcb::INTERCEPT_MISC1),
        );
        wr(utcb, u::INJ, inj);
    }
    if m & mtd::CTRL != 0 {
        let misc =
            v.r32(vmcb::INTERCEPT_MISC1) as u64 | (v.r32(vmcb::INTERCEPT_MISC2) as u64) << 32;
        wr(utcb, u::CTRL, misc);
        let exc = rd(utcb, u::TSC_AUX) & 0xffff_ffff;
        wr(
            utcb,
            u::TSC_AUX,
            exc | (v.r32(vmcb::INTERCEPT_EXC) as u64) << 32,
        );
    }
}

/// What of the guest's state its translations depend on: CR0, CR3, CR4 and EFER.
fn paging(v: Vmcb) -> [u64; 4] {
    [vmcb::CR0, vmcb::CR3, vmcb::CR4, vmcb::EFER].map(|field| v.r64(field))
}

/// Applies the state the VMM's reply selects (its UTCB's MTD word) to the vCPU.
pub fn save(utcb: u64, v: Vmcb, f: &mut Frame) {
    if utcb == 0 {
        return;
    }
    let m = rd(utcb, u::MTD) as u32;
    // A reply that carries nothing but the [`PLAIN`] state is done here: none of it can
    // make VMRUN refuse the guest, so the snapshot of the last entered state stays good
    // for a refusal that follows a later reply.
    save_plain(utcb, v, f, m);
    let rest = m & !PLAIN;
    if rest == 0 {
        return;
    }
    let paging_before = paging(v);
    for (at, field, bit) in REGS {
        if rest & bit != 0 {
            v.w64(field, rd(utcb, at));
        }
    }
    // The guest must keep SVM enabled in its EFER, or VMRUN refuses it.
    v.w64(vmcb::EFER, v.r64(vmcb::EFER) | start::SVM_EFER);
    for (at, field, bit) in SEGS {
        if m & bit != 0 {
            let w = rd(utcb, at);
            v.set_seg(
                field,
                w as u16,
                (w >> 16) as u16,
                (w >> 32) as u32,
                rd(utcb, at + 8),
            );
        }
    }
    // The guest's cached translations are stale after a change of its paging state
    // (a VMM that writes back the values it read changes nothing) or on request.
    if paging(v) != paging_before || m & (mtd::PDPTE | mtd::TLB) != 0 {
        v.request_flush();
    }
    if m & mtd::CTRL != 0 {
        let ctrl = rd(utcb, u::CTRL);
        let misc1 = (ctrl as u32 & !super::CLEARED_MISC1) | super::FORCED_MISC1;
        v.w32(vmcb::INTERCEPT_MISC1, misc1);
        v.w32(
            vmcb::INTERCEPT_MISC2,
            (ctrl >> 32) as u32 | super::FORCED_MISC2,
        );
        let exc = (rd(utcb, u::TSC_AUX) >> 32) as u32;
        v.w32(vmcb::INTERCEPT_EXC, exc | super::FORCED_EXCEPTIONS);
    }
    if m & mtd::INJ != 0 {
        // Exceptions and NMIs through EVENTINJ, external interrupts as a virtual
        // interrupt, an interrupt-window request as V_IRQ with its delivery intercepted
        // (or, beside a virtual interrupt, the next IRET): `facet_kcore::svm_inject`.
        let p = svm_inject::program(
            rd(utcb, u::INJ),
            v.r64(vmcb::VINTR),
            v.r32(vmcb::INTERCEPT_MISC1),
            v.own_iret(),
        );
        v.w64(vmcb::VINTR, p.vintr);
        v.w32(vmcb::INTERCEPT_MISC1, p.misc1);
        v.w64(vmcb::EVENTINJ, p.eventinj);
        v.set_own_iret(p.own_iret);
    }
    // Only a VMM's state can make VMRUN refuse the guest: keep what was entered.
    v.snapshot();
}

/// A reply of MTD `m` for the VM-exit fast path: one with [`PLAIN`] state, an injection
/// and the interruptibility state only (which SVM does not transfer: [`save`] leaves it
/// too), whose injection needs no EVENTINJ (an external interrupt as a virtual one, a
/// window request, or none). Applied as [`save`] applies it, without the snapshot: none
/// of it can make VMRUN refuse the guest (an event in EVENTINJ could), so the snapshot
/// of the last entered state stays good for a refusal that follows a later reply, as
/// after a plain reply. Returns whether it did; if not, nothing has changed.
#[inline(always)]
pub fn save_fast(utcb: u64, v: Vmcb, f: &mut Frame, m: u32) -> bool {
    let rest = m & !PLAIN;
    if rest == 0 {
        save_plain(utcb, v, f, m);
        return true;
    }
    save_injection(utcb, v, f, m, rest)
}

/// [`save_fast`] for a reply beyond [`PLAIN`], out of line.
#[inline(never)]
fn save_injection(utcb: u64, v: Vmcb, f: &mut Frame, m: u32, rest: u32) -> bool {
    if rest & !(mtd::INJ | mtd::STA) != 0 {
        return false;
    }
    let programmed = match rest & mtd::INJ {
        0 => None,
        _ => {
            let p = svm_inject::program(
                rd(utcb, u::INJ),
                v.r64(vmcb::VINTR),
                v.r32(vmcb::INTERCEPT_MISC1),
                v.own_iret(),
            );
            if p.eventinj != 0 {
                return false;
            }
            Some(p)
        }
    };
    save_plain(utcb, v, f, m);
    if let Some(p) = programmed {
        v.w64(vmcb::VINTR, p.vintr);
        v.w32(vmcb::INTERCEPT_MISC1, p.misc1);
        v.w64(vmcb::EVENTINJ, p.eventinj);
        v.set_own_iret(p.own_iret);
    }
    true
}

/// Applies the state of the [`PLAIN`] bits of a reply's MTD `m` to the vCPU: the whole
/// reply when `m` has no other bit (the VM-exit fast path), the first part of [`save`]'s
/// otherwise.
#[inline(never)]
pub fn save_plain(utcb: u64, v: Vmcb, f: &mut Frame, m: u32) {
    crate::vcpu::gprs_from_utcb(utcb, f, m);
    if m & mtd::GPR_ACDB != 0 {
        v.w64(vmcb::RAX, rd(utcb, u::RAX));
    }
    if m & mtd::RIP_LEN != 0 {
        v.w64(vmcb::RIP, rd(utcb, u::RIP));
    }
    if m & (mtd::RSP | mtd::RFLAGS | mtd::TSC) != 0 {
        if m & mtd::RSP != 0 {
            v.w64(vmcb::RSP, rd(utcb, u::RSP));
        }
        if m & mtd::RFLAGS != 0 {
            v.w64(vmcb::RFLAGS, rd(utcb, u::RFLAGS));
        }
        if m & mtd::TSC != 0 {
            v.w64(vmcb::TSC_OFFSET, rd(utcb, u::TSC_OFF));
        }
    }
}
