use super::*;

#[test]
fn event_numbers_are_the_references() {
    assert_eq!((EVENT_STARTUP, EVENT_RECALL), (30, 31));
    assert_eq!(
        (
            VM_EVENT_NPT,
            VM_EVENT_INVALID,
            VM_EVENT_STARTUP,
            VM_EVENT_RECALL
        ),
        (252, 253, 254, 255)
    );
    assert_eq!((ROOT_SEL_PD, ROOT_SEL_EC, ROOT_SEL_SC), (32, 33, 34));
    assert_eq!(
        (ROOT_HIP_ADDR, ROOT_UTCB_ADDR),
        (0x7fff_ffff_e000, 0x7fff_ffff_d000)
    );
}
