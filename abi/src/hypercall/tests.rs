use super::*;

#[test]
fn every_nibble_decodes_and_builds_back() {
    for n in 0..16u64 {
        let h = Hypercall::from_arg1(n | 0x1234_5600);
        assert_eq!(h as u64, n);
        let a = arg1(h, 0x5, 0x42);
        assert_eq!(a & 0xf, n);
        assert_eq!(arg1_flags(a), 5);
        assert_eq!(arg1_selector(a), 0x42);
    }
}
