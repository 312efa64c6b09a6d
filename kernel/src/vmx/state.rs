//! Moving a vCPU's state between its VMCS (plus the general registers the kernel keeps)
//! and a VMM's UTCB, for the parts an MTD selects. Segment access rights travel in the
//! UTCB in the compressed 12-bit form (as on SVM); VMX keeps the upper four bits at
//! 15:12 and marks unusable segments with bit 16. The tables walked here, and the
//! access-rights forms, are `facet_kcore::vcpu_state`'s.

use facet_abi::layout::{VM_EVENT_RECALL, VM_EVENT_STARTUP};
use facet_abi::mtd;
use facet_abi::utcb as u;
use facet_kcore::vcpu_state::start::vmx as start;
use facet_kcore::vcpu_state::vmx::{
    activity_state, compress_ar, expand_ar, REGS, SEGS, SYSCALL_MSRS,
};

use super::vmcs::{self, read, write};
use crate::arch::regs::Frame;
use crate::utcb::{read_word as rd, write_word as wr};

/// The MTD bits [`load_plain`] and [`save_plain`] move: the general registers, RSP, RIP
/// (and the length), RFLAGS, the qualification (never applied) and the TSC offset. A
/// reply with only these changes no paging state, so it needs neither the tables nor the
/// comparison of the paging state (`crate::vcpu::PLAIN_MTD` is the same set).
pub const PLAIN: u32 = mtd::GPR_ACDB
    | mtd::GPR_BSD
    | mtd::GPR_R8_R15
    | mtd::RSP
    | mtd::RIP_LEN
    | mtd::RFLAGS
    | mtd::QUAL
    | mtd::TSC;

/// Writes the state `m` selects into the VMM's UTCB (the message of exit `event`).
pub fn load(utcb: u64, vmcs: u64, f: &mut Frame, m: u32, event: u64) {
    if utcb == 0 || !super::run::make_current(vmcs) {
        return;
    }
    load_plain(f, utcb, m);
    let rest = m & !PLAIN;
    for (at, field, bit) in REGS {
        if rest & bit != 0 {
            wr(utcb, at, read(field));
        }
    }
    if m & mtd::CR != 0 {
        // The guest sees its shadows for the bits the kernel owns.
        let (mask0, mask4) = (read(vmcs::CR0_MASK), read(vmcs::CR4_MASK));
        let cr0 = read(vmcs::GUEST_CR0) & !mask0 | read(vmcs::CR0_SHADOW) & mask0;
        let cr4 = read(vmcs::GUEST_CR4) & !mask4 | read(vmcs::CR4_SHADOW) & mask4;
        wr(utcb, u::CR0, cr0);
        wr(utcb, u::CR2, super::run::guest_cr2(vmcs));
        wr(utcb, u::CR4, cr4);
    }
    for (at, n, bit) in SEGS {
        if m & bit != 0 {
            let (sel, limit, ar, base) = vmcs::segment(n);
            let compressed = compress_ar(read(ar));
            wr(
                utcb,
                at,
                read(sel) & 0xffff | compressed << 16 | (read(limit) & 0xffff_ffff) << 32,
            );
            wr(utcb, at + 8, read(base));
        }
    }
    if m & mtd::GDTR != 0 {
        wr(utcb, u::GDTR, read(vmcs::GUEST_GDTR_LIMIT) << 32);
        wr(utcb, u::GDTR + 8, read(vmcs::GUEST_GDTR_BASE));
    }
    if m & mtd::IDTR != 0 {
        wr(utcb, u::IDTR, read(vmcs::GUEST_IDTR_LIMIT) << 32);
        wr(utcb, u::IDTR + 8, read(vmcs::GUEST_IDTR_BASE));
    }
    if m & mtd::INJ != 0 {
        // After a failed entry or a recall the VMM sees what is pending for injection;
        // after any other exit, the exit's interruption information and the event whose
        // delivery the exit interrupted.
        if event == super::vmcs::REASON_INVALID_GUEST_STATE as u64 || event == VM_EVENT_RECALL {
            wr(
                utcb,
                u::INJ,
                read(vmcs::ENTRY_INTR_INFO) & 0xffff_ffff | read(vmcs::ENTRY_INTR_ERROR) << 32,
            );
        } else {
            wr(
                utcb,
                u::INJ,
                read(vmcs::EXIT_INTR_INFO) & 0xffff_ffff | read(vmcs::EXIT_INTR_ERROR) << 32,
            );
            wr(
                utcb,
                u::VECT_INFO,
                read(vmcs::IDT_VECT_INFO) & 0xffff_ffff | read(vmcs::IDT_VECT_ERROR) << 32,
            );
        }
    }
    if m & mtd::STA != 0 {
        wr(
            utcb,
            u::INTR_STATE,
            read(vmcs::GUEST_INTERRUPTIBILITY) & 0xffff_ffff | read(vmcs::GUEST_ACTIVITY) << 32,
        );
    }
    if m & mtd::SYSCALL_SWAPGS != 0 {
        for (i, at) in SYSCALL_MSRS.iter().enumerate() {
            wr(utcb, *at, super::run::guest_msr(vmcs, i));
        }
    }
    if m & mtd::TSC_TIMEOUT != 0 {
        wr(utcb, u::TSC_TIMEOUT, super::run::vmm_timeout(vmcs));
    }
    if m & mtd::TPR != 0 {
        let aux = rd(utcb, u::TPR_THRESHOLD) & !0xffff_ffff;
        wr(
            utcb,
            u::TPR_THRESHOLD,
            aux | read(vmcs::TPR_THRESHOLD) & 0xf,
        );
    }
    if m & mtd::CTRL != 0 {
        let ctrl = read(vmcs::PROC_CONTROLS) & 0xffff_ffff | read(vmcs::PROC_CONTROLS2) << 32;
        wr(utcb, u::CTRL, ctrl);
        let aux = rd(utcb, u::TSC_AUX) & 0xffff_ffff;
        wr(utcb, u::TSC_AUX, aux | read(vmcs::EXCEPTION_BITMAP) << 32);
        wr(utcb, u::CR0_MON, read(vmcs::CR0_MASK) & !super::cr0_fixed());
        wr(utcb, u::CR4_MON, read(vmcs::CR4_MASK) & !super::cr4_fixed());
    }
    if event == VM_EVENT_STARTUP {
        hide_start_state(utcb, m);
    }
}

/// Writes the state of the [`PLAIN`] bits of `m` from the current VMCS into the VMM's
/// UTCB (a thread's, so there is one), with the message's MTD and items words: the whole
/// message of an exit when `m` has no other bit (the VM-exit fast path; never the
/// start-up message, whose state [`load`] hides in part), the first part of [`load`]'s
/// otherwise.
#[inline(never)]
pub fn load_plain(f: &mut Frame, utcb: u64, m: u32) {
    if m & mtd::GPR_ACDB != 0 {
        wr(utcb, u::RAX, f.rax);
    }
    crate::vcpu::gprs_to_utcb(utcb, f, m);
    if m & mtd::RIP_LEN != 0 {
        wr(utcb, u::RIP, read(vmcs::GUEST_RIP));
        wr(utcb, u::INST_LEN, read(vmcs::INSTRUCTION_LEN));
    }
    if m & (mtd::RSP | mtd::RFLAGS | mtd::QUAL | mtd::TSC) != 0 {
        if m & mtd::RSP != 0 {
            wr(utcb, u::RSP, read(vmcs::GUEST_RSP));
        }
        if m & mtd::RFLAGS != 0 {
            wr(utcb, u::RFLAGS, read(vmcs::GUEST_RFLAGS));
        }
        if m & mtd::QUAL != 0 {
            wr(utcb, u::QUAL, read(vmcs::EXIT_QUALIFICATION));
            wr(utcb, u::QUAL + 8, read(vmcs::GUEST_PHYSICAL));
        }
        if m & mtd::TSC != 0 {
            wr(utcb, u::TSC_VAL, crate::arch::cpu::tsc());
            wr(utcb, u::TSC_OFF, read(vmcs::TSC_OFFSET));
        }
    }
    wr(utcb, u::MTD, m as u64);
    wr(utcb, u::ITEMS, u::STATE_WORDS);
}

/// The start-up message reports the reference's start state: without the RFLAGS bit and
/// the segment access rights the kernel keeps so that VMX enters it
/// (`facet_kcore::vcpu_state::start::vmx`). The VMCS holds nothing else yet.
fn hide_start_state(utcb: u64, m: u32) {
    if m & mtd::RFLAGS != 0 {
        wr(utcb, u::RFLAGS, start::reported_rflags(rd(utcb, u::RFLAGS)));
    }
    for (at, _, bit) in SEGS {
        if m & bit != 0 {
            wr(utcb, at, start::reported_segment(rd(utcb, at)));
        }
    }
}

/// Whether the exit being answered is the guest's MOV to CR3 (a CR access with CR 3 in
/// qualification bits 3:0 and access type 0, MOV to CR, in bits 5:4).
fn exit_was_cr3_load() -> bool {
    let qual = read(vmcs::EXIT_QUALIFICATION);
    read(vmcs::EXIT_REASON) as u16 as u32 == vmcs::REASON_CR_ACCESS
        && qual & 0xf == 3
        && (qual >> 4) & 3 == 0
}

/// What of the current VMCS's guest state its translations depend on: CR0, CR3, CR4
/// and EFER.
fn paging() -> [u64; 4] {
    [
        vmcs::GUEST_CR0,
        vmcs::GUEST_CR3,
        vmcs::GUEST_CR4,
        vmcs::GUEST_EFER,
    ]
    .map(read)
}

/// Applies the state the VMM's reply selects (its UTCB's MTD word) to the vCPU. What
/// the CPU would refuse (reserved bits, inconsistent state) makes the next entry fail,
/// which the VMM sees as exit 33 (invalid guest state): the kernel keeps its own
/// controls and the host state out of the VMM's reach.
pub fn save(utcb: u64, vmcs: u64, f: &mut Frame) {
    if utcb == 0 || !super::run::make_current(vmcs) {
        return;
    }
    let m = rd(utcb, u::MTD) as u32;
    // A reply with only the [`PLAIN`] state is done here.
    save_plain(f, utcb, m);
    let rest = m & !PLAIN;
    if rest == 0 {
        return;
    }
    let paging_before = paging();
    for (at, field, bit) in REGS {
        if rest & bit != 0 {
            write(field, rd(utcb, at));
        }
    }
    if m & mtd::CR != 0 {
        // The guest's value with the bits VMX requires set; it reads its own value
        // (the shadow) for those and for the bits its VMM monitors.
        write(vmcs::CR0_SHADOW, rd(utcb, u::CR0));
        write(vmcs::GUEST_CR0, rd(utcb, u::CR0) | super::cr0_fixed());
        write(vmcs::CR4_SHADOW, rd(utcb, u::CR4));
        write(vmcs::GUEST_CR4, rd(utcb, u::CR4) | super::cr4_fixed());
        super::run::set_guest_cr2(vmcs, rd(utcb, u::CR2));
    }
    for (at, n, bit) in SEGS {
        if m & bit != 0 {
            let (sel, limit, ar, base) = vmcs::segment(n);
            let w = rd(utcb, at);
            write(sel, w & 0xffff);
            write(ar, expand_ar(w >> 16));
            write(limit, w >> 32);
            write(base, rd(utcb, at + 8));
        }
    }
    // The descriptor tables: limit in bits 63:32 of the first word (a limit beyond
    // 0xffff makes the entry fail), base in the second.
    for (bit, at, limit, base) in [
        (
            mtd::GDTR,
            u::GDTR,
            vmcs::GUEST_GDTR_LIMIT,
            vmcs::GUEST_GDTR_BASE,
        ),
        (
            mtd::IDTR,
            u::IDTR,
            vmcs::GUEST_IDTR_LIMIT,
            vmcs::GUEST_IDTR_BASE,
        ),
    ] {
        if m & bit != 0 {
            write(limit, rd(utcb, at) >> 32);
            write(base, rd(utcb, at + 8));
        }
    }
    if m & mtd::SYSCALL_SWAPGS != 0 {
        for (i, at) in SYSCALL_MSRS.iter().enumerate() {
            super::run::set_guest_msr(vmcs, i, rd(utcb, *at));
        }
    }
    if m & mtd::TSC_TIMEOUT != 0 {
        super::run::set_vmm_timeout(vmcs, rd(utcb, u::TSC_TIMEOUT));
    }
    if m & mtd::TPR != 0 {
        // Bits 3:0 only: the CPU refuses an entry with any other bit set.
        write(vmcs::TPR_THRESHOLD, rd(utcb, u::TPR_THRESHOLD) & 0xf);
    }
    if m & mtd::EFER_PAT != 0 {
        // The "IA-32e mode guest" entry control follows the guest's EFER.LMA.
        let lma = rd(utcb, u::EFER) & (1 << 10) != 0;
        let entry = read(vmcs::ENTRY_CONTROLS) & !(1 << 9);
        write(vmcs::ENTRY_CONTROLS, entry | (lma as u64) << 9);
    }
    // Changed paging state from the VMM (one that writes back the values it read
    // changes nothing), a CR3 load it completes for the guest (which drops translations
    // even with the same value: the way a guest flushes its TLB), or its explicit
    // request: the guest's cached linear translations are stale.
    let cr3_load = m & mtd::CR != 0 && exit_was_cr3_load();
    if paging() != paging_before || cr3_load || m & (mtd::PDPTE | mtd::TLB) != 0 {
        super::run::flush_vpid(vmcs);
    }
    if m & mtd::CTRL != 0 {
        let ctrl = rd(utcb, u::CTRL);
        write(
            vmcs::PROC_CONTROLS,
            super::proc_controls(ctrl as u32) as u64,
        );
        let vpid = read(vmcs::VPID) != 0;
        write(
            vmcs::PROC_CONTROLS2,
            super::proc_controls2((ctrl >> 32) as u32, vpid) as u64,
        );
        let exc = rd(utcb, u::TSC_AUX) >> 32;
        write(
            vmcs::EXCEPTION_BITMAP,
            exc | super::FORCED_EXCEPTIONS as u64,
        );
        // Monitored CR0/CR4 bits: a guest write that changes one exits (CR access, 28).
        write(vmcs::CR0_MASK, super::cr0_fixed() | rd(utcb, u::CR0_MON));
        write(vmcs::CR4_MASK, super::cr4_fixed() | rd(utcb, u::CR4_MON));
    }
    if m & mtd::INJ != 0 {
        let inj = rd(utcb, u::INJ);
        // Window requests become the interrupt-window and NMI-window exiting controls.
        let mut proc = read(vmcs::PROC_CONTROLS) as u32 & !((1 << 2) | (1 << 22));
        if inj & u::INJ_REQUEST_INTR_WINDOW != 0 {
            proc |= 1 << 2;
        }
        if inj & u::INJ_REQUEST_NMI_WINDOW != 0 {
            proc |= 1 << 22;
        }
        write(vmcs::PROC_CONTROLS, super::proc_controls(proc) as u64);
        let requests = u::INJ_REQUEST_INTR_WINDOW | u::INJ_REQUEST_NMI_WINDOW;
        write(vmcs::ENTRY_INTR_INFO, inj & 0xffff_ffff & !requests);
        write(vmcs::ENTRY_INTR_ERROR, inj >> 32);
        // Software interrupts and exceptions need the instruction length.
        write(vmcs::ENTRY_INST_LEN, rd(utcb, u::INST_LEN) & 0xf);
    }
    if m & mtd::STA != 0 {
        let sta = rd(utcb, u::INTR_STATE);
        write(vmcs::GUEST_INTERRUPTIBILITY, sta & 0xf);
        write(vmcs::GUEST_ACTIVITY, activity_state(sta >> 32));
    }
}

/// Applies the state of the [`PLAIN`] bits of a reply's MTD `m` to the current VMCS and
/// the frame: the whole reply when `m` has no other bit (the VM-exit fast path), the
/// first part of [`save`]'s otherwise.
#[inline(never)]
pub fn save_plain(f: &mut Frame, utcb: u64, m: u32) {
    if m & mtd::GPR_ACDB != 0 {
        f.rax = rd(utcb, u::RAX);
    }
    crate::vcpu::gprs_from_utcb(utcb, f, m);
    if m & mtd::RIP_LEN != 0 {
        write(vmcs::GUEST_RIP, rd(utcb, u::RIP));
    }
    if m & (mtd::RSP | mtd::RFLAGS | mtd::TSC) != 0 {
        if m & mtd::RSP != 0 {
            write(vmcs::GUEST_RSP, rd(utcb, u::RSP));
        }
        if m & mtd::RFLAGS != 0 {
            // The bit VM entry requires stays set, whatever the VMM writes (its start-up
            // message did not show it).
            write(vmcs::GUEST_RFLAGS, rd(utcb, u::RFLAGS) | start::RFLAGS);
        }
        if m & mtd::TSC != 0 {
            write(vmcs::TSC_OFFSET, rd(utcb, u::TSC_OFF));
        }
    }
}
