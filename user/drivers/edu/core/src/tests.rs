//! Host tests: requests (bad ones included), DMA bounds, the MSI capability walk.

use crate::dma::{transfer, Refused, Transfer};
use crate::protocol::{answer, decode, Request, MAX_COPY, MAX_FACTORIAL, OP_COPY, OP_FACTORIAL};
use crate::{factorial, msi};
use std::collections::HashMap;

#[test]
fn factorials_wrap_as_the_device_does() {
    assert_eq!(factorial(0), 1);
    assert_eq!(factorial(1), 1);
    assert_eq!(factorial(5), 120);
    assert_eq!(factorial(12), 479_001_600);
    // 13! = 6227020800 = 0x1_7328_cc00.
    assert_eq!(factorial(13), 0x7328_cc00);
}

#[test]
fn requests() {
    assert_eq!(decode(2, OP_FACTORIAL, 10), Ok(Request::Factorial(10)));
    assert_eq!(
        decode(2, OP_FACTORIAL, MAX_FACTORIAL + 1),
        Err(answer::BAD_LEN)
    );
    assert_eq!(decode(2, OP_FACTORIAL, u64::MAX), Err(answer::BAD_LEN));
    assert_eq!(decode(3, OP_COPY, 8), Ok(Request::Copy { bytes: 8 }));
    assert_eq!(decode(4, OP_COPY, 9), Ok(Request::Copy { bytes: 9 }));
    // The words must be there.
    assert_eq!(decode(3, OP_COPY, 9), Err(answer::BAD_LEN));
    assert_eq!(decode(2, OP_COPY, 0), Err(answer::BAD_LEN));
    assert_eq!(
        decode(508, OP_COPY, MAX_COPY),
        Ok(Request::Copy { bytes: MAX_COPY })
    );
    assert_eq!(decode(508, OP_COPY, MAX_COPY + 1), Err(answer::BAD_LEN));
    assert_eq!(decode(508, OP_COPY, u64::MAX), Err(answer::BAD_LEN));
    assert_eq!(decode(2, 0, 0), Err(answer::BAD_OP));
    assert_eq!(decode(2, u64::MAX, 0), Err(answer::BAD_OP));
    assert_eq!(decode(1, OP_FACTORIAL, 0), Err(answer::BAD_LEN));
    assert_eq!(decode(0, OP_FACTORIAL, 0), Err(answer::BAD_OP));
}

#[test]
fn transfers_stay_inside_the_buffer_and_the_dma_mask() {
    assert_eq!(
        transfer(0, 0x10_0000, 4096, false, true),
        Ok(Transfer {
            src: 0x10_0000,
            dst: 0x4_0000,
            count: 4096,
            cmd: 1 | 4
        })
    );
    assert_eq!(
        transfer(0x800, 0x10_1000, 0x800, true, false),
        Ok(Transfer {
            src: 0x4_0800,
            dst: 0x10_1000,
            count: 0x800,
            cmd: 1 | 2
        })
    );
    assert_eq!(transfer(0, 0x1000, 0, true, true), Err(Refused::Length));
    assert_eq!(transfer(1, 0x1000, 4096, true, true), Err(Refused::Length));
    assert_eq!(transfer(4096, 0x1000, 1, true, true), Err(Refused::Length));
    assert_eq!(
        transfer(u64::MAX, 0x1000, 1, true, true),
        Err(Refused::Length)
    );
    assert_eq!(
        transfer(0, 0x0fff_f000, 4096, true, true).map(|t| t.dst),
        Ok(0x0fff_f000)
    );
    assert_eq!(
        transfer(0, 0x0fff_f001, 4096, true, true),
        Err(Refused::Address)
    );
    assert_eq!(transfer(0, u64::MAX, 2, true, true), Err(Refused::Address));
}

/// Configuration space as dwords by offset.
fn config(words: &[(u64, u32)]) -> HashMap<u64, u32> {
    words.iter().copied().collect()
}

#[test]
fn the_msi_capability_is_found() {
    // edu: status has a capability list, the pointer at 0x34 names 0x40, MSI there
    // (64-bit addresses), then the end.
    let c = config(&[(0x04, 0x0010_0000), (0x34, 0x40), (0x40, 0x0080_0005)]);
    let read = |o| c.get(&o).copied().unwrap_or(0);
    assert_eq!(msi::find(read), Some(0x40));
    // After another capability.
    let c = config(&[
        (0x04, 0x0010_0000),
        (0x34, 0x50),
        (0x50, 0x6001),
        (0x60, 0x05),
    ]);
    assert_eq!(msi::find(|o| c.get(&o).copied().unwrap_or(0)), Some(0x60));
    // No list, an empty list, a pointer into the header, a loop.
    let none = [
        config(&[(0x34, 0x40), (0x40, 0x05)]),
        config(&[(0x04, 0x0010_0000), (0x34, 0)]),
        config(&[(0x04, 0x0010_0000), (0x34, 0x10), (0x10, 0x05)]),
        config(&[(0x04, 0x0010_0000), (0x34, 0x40), (0x40, 0x4001)]),
    ];
    for c in &none {
        assert_eq!(msi::find(|o| c.get(&o).copied().unwrap_or(0)), None);
    }
    // All ones everywhere (no device): the list leaves through 0xfc, which loops.
    assert_eq!(msi::find(|_| u32::MAX), None);
}

#[test]
fn programming_the_capability() {
    // 64-bit capable: address low, high, data at +12, then enable (multiple messages off).
    assert_eq!(
        msi::program(0x40, 0x00f0_0005, 0xfee0_0018, 120),
        [
            (0x44, 0xfee0_0018),
            (0x48, 0),
            (0x4c, 120),
            (0x40, 0x0081_0005)
        ]
    );
    // 32-bit: data at +8.
    assert_eq!(
        msi::program(0x50, 0x0000_0005, 0xfee0_1000, 0x4031),
        [
            (0x54, 0xfee0_1000),
            (0x58, 0x4031),
            (0x58, 0x4031),
            (0x50, 0x0001_0005)
        ]
    );
}
