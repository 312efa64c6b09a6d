use super::*;

#[test]
fn fields_round_trip() {
    let c = Crd::new(Kind::Pio, 0x3f8, 3, crate::perm::PIO_A);
    assert_eq!(c.kind(), Kind::Pio);
    assert_eq!(c.base(), 0x3f8);
    assert_eq!(c.order(), 3);
    assert_eq!(c.perms(), 1);
    assert!(c.is_aligned());
    assert_eq!(c.0, 0x3f8 << 12 | 3 << 7 | 1 << 2 | 2);
    assert!(!Crd::new(Kind::Pio, 0x3f9, 3, 1).is_aligned());
    assert_eq!(Crd::NULL.kind(), Kind::Null);
}
