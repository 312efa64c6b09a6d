//! What the VMX and SVM tables must agree on, and the VMX access-rights forms.

use std::collections::BTreeMap;
use std::vec::Vec;

use facet_abi::mtd;
use facet_abi::utcb as u;

use super::*;

/// Every UTCB word a table covers, with the MTD bit that selects it (a segment covers
/// two words). Panics if two entries share a word.
fn words(entries: &[(usize, u32, usize)]) -> BTreeMap<usize, u32> {
    let mut m = BTreeMap::new();
    for &(at, bit, len) in entries {
        for w in (at..at + len).step_by(8) {
            assert!(m.insert(w, bit).is_none(), "UTCB word {w} named twice");
        }
    }
    m
}

fn vmx_words() -> BTreeMap<usize, u32> {
    let mut e: Vec<(usize, u32, usize)> = Vec::new();
    e.extend(GPRS.iter().map(|g| (g.0, g.2, 8)));
    e.extend(vmx::REGS.iter().map(|r| (r.0, r.2, 8)));
    e.extend(vmx::SEGS.iter().map(|s| (s.0, s.2, 16)));
    e.extend(
        vmx::SYSCALL_MSRS
            .iter()
            .map(|&at| (at, mtd::SYSCALL_SWAPGS, 8)),
    );
    for (at, bit) in vmx::BY_HAND {
        // GDTR and IDTR are two words, like segments.
        let len = if at == u::GDTR || at == u::IDTR {
            16
        } else {
            8
        };
        e.push((at, bit, len));
    }
    words(&e)
}

fn svm_words() -> BTreeMap<usize, u32> {
    let mut e: Vec<(usize, u32, usize)> = Vec::new();
    e.extend(GPRS.iter().map(|g| (g.0, g.2, 8)));
    e.extend(svm::REGS.iter().map(|r| (r.0, r.2, 8)));
    e.extend(svm::SEGS.iter().map(|s| (s.0, s.2, 16)));
    words(&e)
}

#[test]
fn both_extensions_move_the_same_words_under_the_same_bits() {
    assert_eq!(vmx_words(), svm_words());
}

#[test]
fn every_word_is_in_the_state_area() {
    for (at, _) in vmx_words() {
        assert!(
            at % 8 == 0 && at >= u::RIP && at + 8 <= u::STATE_END,
            "{at}"
        );
    }
}

#[test]
fn the_general_registers_are_the_utcb_table_without_rax() {
    assert_eq!(&GPRS[..], &crate::utcb::GPRS[1..]);
    assert_eq!(crate::utcb::GPRS[0].0, u::RAX);
}

#[test]
fn each_vmcs_segment_and_vmcb_field_once() {
    let mut n: Vec<u64> = vmx::SEGS.iter().map(|s| s.1).collect();
    n.sort();
    assert_eq!(n, (0..8).collect::<Vec<_>>());
    let mut f: Vec<u64> = vmx::REGS.iter().map(|r| r.1).collect();
    f.sort();
    f.dedup();
    assert_eq!(f.len(), vmx::REGS.len());
    let mut o: Vec<u64> = svm::REGS
        .iter()
        .map(|r| r.1)
        .chain(svm::SEGS.iter().map(|s| s.1))
        .collect();
    o.sort();
    o.dedup();
    assert_eq!(o.len(), svm::REGS.len() + svm::SEGS.len());
    // State-save area, 8-byte aligned; segments 16 bytes apart.
    for &x in &o {
        assert!((0x400..0x1000).contains(&x) && x % 8 == 0, "{x:#x}");
    }
    for s in svm::SEGS {
        assert!(s.1 % 16 == 0 && s.1 < 0x4a0);
    }
}

#[test]
fn vmcs_encodings_have_the_widths_of_their_fields() {
    // Bits 14:13: 1 = 64-bit, 2 = 32-bit, 3 = natural width; bit 0 (high half) clear;
    // bits 11:10 = 2, guest state.
    let width = |f: u64| (f >> 13) & 3;
    for f in [vmcs::GUEST_PAT, vmcs::GUEST_EFER] {
        assert_eq!(width(f), 1);
    }
    assert_eq!(width(vmcs::GUEST_SYSENTER_CS), 2);
    for (_, f, _) in vmx::REGS {
        assert_eq!(f & 1, 0);
        assert_eq!((f >> 10) & 3, 2, "{f:#x} is guest state");
        if ![vmcs::GUEST_PAT, vmcs::GUEST_EFER, vmcs::GUEST_SYSENTER_CS].contains(&f) {
            assert_eq!(width(f), 3, "{f:#x}");
        }
    }
}

#[test]
fn access_rights_survive_the_round_trip() {
    for ar in 0..1u64 << 17 {
        let c = vmx::compress_ar(ar);
        assert!(c <= 0xfff);
        if ar & 0x1_0000 != 0 {
            assert_eq!(c, 0);
            continue;
        }
        // Bits 11:8 of the field are reserved: the round trip drops them.
        let kept = ar & 0xf0ff;
        if kept == 0 {
            assert_eq!(
                vmx::expand_ar(c),
                0x1_0000,
                "no attribute at all is unusable"
            );
        } else {
            assert_eq!(vmx::expand_ar(c), kept, "{ar:#x}");
        }
    }
    assert_eq!(vmx::expand_ar(0), 0x1_0000);
    assert_eq!(vmx::expand_ar(0xa9b), 0xa09b, "64-bit code");
    assert_eq!(vmx::expand_ar(0xf_0a9b), 0xa09b, "bits above 11 ignored");
}

#[test]
fn activity_states_a_vmm_may_ask_for() {
    assert_eq!(vmx::activity_state(0), 0);
    for s in 1..4 {
        assert_eq!(vmx::activity_state(s), 1);
        assert_eq!(vmx::activity_state(s | 0xff00), 1);
    }
}
