use super::*;

#[test]
fn a_sixteenth_of_ram_between_8_and_512_mib() {
    assert_eq!(size(64 * MIB, None), MIN);
    assert_eq!(size(512 * MIB, None), 32 * MIB);
    assert_eq!(size(1000 * MIB, None), 62 * MIB);
    assert_eq!(size(4 << 30, None), 256 * MIB);
    assert_eq!(size(64 << 30, None), MAX_DEFAULT);
}

#[test]
fn the_pool_word_overrides_within_bounds() {
    assert_eq!(size(512 * MIB, Some(100 * MIB)), 100 * MIB);
    assert_eq!(size(512 * MIB, Some(101 * MIB)), 100 * MIB, "2 MiB units");
    assert_eq!(size(512 * MIB, Some(MIB)), MIN);
    assert_eq!(
        size(512 * MIB, Some(1 << 30)),
        504 * MIB,
        "user space keeps 8 MiB"
    );
    assert_eq!(
        size(64 << 30, Some(2 << 30)),
        2 << 30,
        "beyond the default's 512 MiB"
    );
    assert_eq!(size(12 * MIB, Some(64 * MIB)), MIN);
}
