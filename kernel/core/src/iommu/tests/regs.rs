//! Capability decoding, global commands, invalidation descriptors, fault records.

use crate::iommu::fault::{self, Bdf, Record};
use crate::iommu::inv;
use crate::iommu::regs::{self, common_domains, common_levels, gcmd, Caps};
use std::format;

/// QEMU's intel-iommu with 48-bit addresses and interrupt remapping: fault records at
/// 0x220 (one), 2^16 domains, SAGAW 39 and 48 bits, 2 MiB and 1 GiB super-pages; queued
/// invalidation, IOTLB registers at 0xf0, interrupt remapping, pass-through.
fn qemu() -> Caps {
    let cap = 0x22 << 24 | 6 | 47 << 16 | 1 << 9 | 1 << 10 | 3 << 34 | 1 << 39;
    let ecap = 1 << 1 | 0xf << 8 | 1 << 3 | 1 << 6;
    Caps { cap, ecap }
}

#[test]
fn qemu_capabilities() {
    let c = qemu();
    assert_eq!(c.domains(), 65536);
    assert_eq!(c.mgaw(), 48);
    assert!(c.supports_levels(3) && c.supports_levels(4) && !c.supports_levels(5));
    assert!(!c.supports_levels(0) && !c.supports_levels(7) && !c.supports_levels(255));
    assert_eq!(c.super_pages(), 3);
    assert_eq!((c.fault_records(), c.fault_record_count()), (0x220, 1));
    assert_eq!(c.iotlb(), 0xf0);
    assert!(c.queued_invalidation() && c.interrupt_remapping());
    assert!(!c.extended_interrupts() && !c.coherent() && !c.caching_mode());
    assert!(!c.rwbf() && !c.snoop_control());
    assert_eq!(c.drain(), (false, false));
    assert_eq!(c.register_span(), 4096);
}

#[test]
fn every_domain_field_and_register_span() {
    for nd in 0..8u64 {
        let c = Caps { cap: nd, ecap: 0 };
        assert_eq!(c.domains(), 1 << (4 + 2 * nd.min(6)));
    }
    // Fault records reaching past the first page: 255 records at offset 0x3ff0.
    let c = Caps {
        cap: 0x3ff << 24 | 0xff << 40,
        ecap: 0x3ff << 8,
    };
    assert_eq!(c.fault_records(), 0x3ff0);
    assert_eq!(c.fault_record_count(), 256);
    assert_eq!(c.register_span(), 0x3ff0 + 256 * 16);
    // All ones: nothing decodes out of range.
    let all = Caps {
        cap: u64::MAX,
        ecap: u64::MAX,
    };
    assert_eq!(all.domains(), 65536);
    assert_eq!(all.mgaw(), 64);
    assert!(all.register_span() < 0x1_0000);
}

#[test]
fn the_depth_every_unit_walks() {
    let three = Caps {
        cap: 1 << 9,
        ecap: 0,
    };
    let four = Caps {
        cap: 1 << 10,
        ecap: 0,
    };
    assert_eq!(common_levels(&[qemu()]), Some(4));
    assert_eq!(common_levels(&[qemu(), three]), Some(3));
    assert_eq!(common_levels(&[three, four]), None);
    assert_eq!(common_levels(&[]), Some(4));
    assert_eq!(common_domains(&[qemu()], 2), 2..=65535);
    assert_eq!(
        common_domains(&[qemu(), Caps { cap: 0, ecap: 0 }], 2),
        2..=15
    );
}

#[test]
fn global_commands_repeat_states_not_one_shots() {
    // Translation and queued invalidation on, a root-pointer command just done.
    let gsts = gcmd::TE | gcmd::QIE | gcmd::SRTP | gcmd::SIRTP | gcmd::WBF;
    assert_eq!(regs::command(gsts, gcmd::IRE, true), 0x8600_0000);
    assert_eq!(regs::command(gsts, gcmd::TE, false), 0x0400_0000);
    assert_eq!(regs::command(0, gcmd::SRTP, true), 0x4000_0000);
    assert_eq!(regs::fsts::fri(0x0502), 5);
}

#[test]
fn queued_invalidation_descriptors() {
    assert_eq!(inv::context_global(), [0x11, 0]);
    assert_eq!(inv::context_device(7, 0x0018), [0x18_0007_0031, 0]);
    assert_eq!(inv::iotlb_global((false, false)), [0x12, 0]);
    assert_eq!(inv::iotlb_global((true, true)), [0xd2, 0]);
    assert_eq!(inv::iotlb_domain(0x1234, (true, false)), [0x1234_0062, 0]);
    assert_eq!(inv::iec_global(), [0x4, 0]);
    assert_eq!(inv::iec_index(100), [0x64_0000_0014, 0]);
    assert_eq!(inv::wait(0x1000_0007, 1), [0x1_0000_0025, 0x1000_0004]);
    assert_eq!(inv::tail(0), 0);
    assert_eq!(inv::tail(255), 0xff0);
    assert_eq!(inv::tail(256), 0);
    assert_eq!(inv::queue_address(0x12_3456), 0x12_3000);
}

#[test]
fn register_invalidation_commands() {
    assert_eq!(inv::ccmd_global(), 0xa000_0000_0000_0000);
    assert_eq!(inv::iotlb_reg_global((false, false)), 0x9000_0000_0000_0000);
    assert_eq!(inv::iotlb_reg_global((true, true)), 0x9003_0000_0000_0000);
    assert_eq!(
        inv::iotlb_reg_domain(5, (false, false)),
        0xa000_0005_0000_0000
    );
    assert_eq!(inv::RUNNING, 1 << 63);
}

#[test]
fn fault_records() {
    // A DMA write by 00:03.0 to 0x1234_5678, context entry not present (QEMU's layout:
    // SID in bits 79:64, reason in 103:96, T clear for a write, F in bit 127).
    let hi = 1 << 63 | 2 << 32 | 0x18;
    let r = fault::decode(0x1234_5000, hi).unwrap();
    assert_eq!(
        r,
        Record {
            source: 0x18,
            reason: 2,
            write: true,
            info: 0x1234_5000
        }
    );
    assert!(!r.interrupt());
    // A read (T set).
    let r = fault::decode(0x7000, 1 << 63 | 1 << 62 | 6 << 32 | 0x18).unwrap();
    assert!(!r.write && r.reason == 6);
    // An interrupt remapping fault: the index in bits 63:48.
    let r = fault::decode(101 << 48, 1 << 63 | 0x26 << 32 | 0x18).unwrap();
    assert!(r.interrupt());
    assert_eq!((r.info, r.reason, r.source), (101, 0x26, 0x18));
    // No fault: F clear.
    assert_eq!(fault::decode(u64::MAX, !(1 << 63)), None);
    assert_eq!(
        fault::reason(0x26),
        "interrupt from a requester the entry does not name"
    );
    assert_eq!(fault::reason(0xee), "unknown reason");
    assert_eq!(format!("{}", Bdf(0x00f8)), "00:1f.0");
    assert_eq!(format!("{}", Bdf(0xfff7)), "ff:1e.7");
}
