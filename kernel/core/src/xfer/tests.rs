use super::*;

#[test]
fn hotspot_places_small_send_inside_big_window() {
    // Send one page at 0x123, window of 16 pages at 0x100, hotspot 0x5000 >> 12 = 5.
    assert_eq!(clamp_hotspot(0x123, 0x100, 0, 4, 5), (0x123, 0x105, 0));
    // Big send, small window: the hotspot picks the part of the send range.
    assert_eq!(clamp_hotspot(0x100, 0x200, 4, 0, 7), (0x107, 0x200, 0));
    // Equal sizes: bases are just aligned.
    assert_eq!(clamp_hotspot(0x13, 0x27, 2, 2, 0xff), (0x10, 0x24, 2));
}

#[test]
fn fixed_ranges_must_overlap() {
    assert_eq!(clamp_fixed(0x3f8, 0x3f8, 3, 3), Some((0x3f8, 3)));
    assert_eq!(clamp_fixed(0x3f8, 0, 3, 16), Some((0x3f8, 3)));
    assert_eq!(clamp_fixed(0, 0x60, 16, 0), Some((0x60, 0)));
    assert_eq!(clamp_fixed(0x3f8, 0x2f8, 3, 3), None);
    assert_eq!(clamp_fixed(0x3f8, 0x3f8, 31, 31), Some((0, 31)));
}
