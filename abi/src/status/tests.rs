use super::*;

#[test]
fn round_trips_every_status_and_ignores_upper_bits() {
    for v in 0u64..=8 {
        let s = Status::from_out1(v | 0xabcd_0000_0000_0100).unwrap();
        assert_eq!(s as u64, v);
    }
    assert_eq!(Status::from_out1(9), None);
    assert_eq!(Status::BadPar.name(), "BAD_PAR");
}
