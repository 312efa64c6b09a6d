use super::vmx::*;
use crate::vcpu_state::vmx::{compress_ar, expand_ar};

#[test]
fn the_rights_kept_on_vmx_are_the_ones_entry_needs() {
    // Usable segments: present (bit 7), code or data (S, bit 4), accessed (bit 0).
    for n in [0, 1, 2, 3, 4, 5] {
        let ar = AR[n];
        assert_eq!(ar & 0x91, 0x91, "segment {n}");
        assert_eq!(ar & 0x1_0000, 0, "segment {n}");
    }
    // CS: execute/read code; the data segments read/write.
    assert_eq!(AR[1] & 0xf, 0xb);
    for n in [0, 2, 3, 4, 5] {
        assert_eq!(AR[n] & 0xf, 0x3);
    }
    // LDTR unusable, TR a present busy TSS (type 11, S clear).
    assert_eq!(AR[6], 0x1_0000);
    assert_eq!(AR[7] & 0x9f, 0x8b);
    // In the UTCB's form each is what compresses to its own rights (0 for LDTR).
    for ar in AR {
        assert_eq!(expand_ar(compress_ar(ar)), ar);
    }
}

#[test]
fn reports_leave_out_exactly_what_the_kernel_keeps() {
    assert_eq!(reported_rflags(RFLAGS), 0);
    assert_eq!(reported_rflags(0x202), 0x200);
    for ar in AR {
        let word = 0x1234 | compress_ar(ar) << 16 | 0xffff << 32;
        assert_eq!(reported_segment(word), 0x1234 | 0xffff << 32);
    }
    assert_eq!(reported_segment(u64::MAX), 0xffff_ffff_0000_ffff);
}
