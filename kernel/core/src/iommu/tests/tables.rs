//! Root, context and interrupt remapping entries; the remappable MSI and I/O APIC
//! formats.

use crate::iommu::tables::*;

#[test]
fn root_entries() {
    assert_eq!(root_entry(0x12_3000), [0x12_3001, 0]);
    // Low bits of the address are not the table's.
    assert_eq!(root_entry(0x12_3fff), [0x12_3001, 0]);
    assert_eq!(root_context_table([0x12_3001, 0]), Some(0x12_3000));
    assert_eq!(root_context_table([0x12_3000, 0]), None);
    assert_eq!(split_rid(0x1a_2b), (0x1a, 0x2b));
}

#[test]
fn context_entries() {
    // 4 levels (AW 2), domain 5: DID in bits 87:72, AW in 66:64.
    assert_eq!(context_entry(0x40_0000, 4, 5), [0x40_0001, 0x502]);
    // 3 levels: AW 1.
    assert_eq!(context_entry(0x40_0000, 3, 0xffff), [0x40_0001, 0xff_ff01]);
    assert_eq!(
        context_domain(context_entry(0x40_0000, 4, 9)),
        Some((9, 0x40_0000))
    );
    assert_eq!(context_domain([0x40_0000, 0x902]), None);
}

#[test]
fn the_table_each_depth_walks() {
    // The PML4 itself for 4 levels; for 3, the PDPT its slot 0 names (an x86 table entry:
    // present, writable, user).
    assert_eq!(domain_root(0x10_0000, 0x20_0007, 4), Some(0x10_0000));
    assert_eq!(domain_root(0x10_0000, 0x20_0007, 3), Some(0x20_0000));
    assert_eq!(domain_root(0x10_0000, 0, 3), None);
    assert_eq!(domain_root(0x10_0000, 0x20_0007, 5), None);
}

#[test]
fn interrupt_entries_in_both_destination_formats() {
    // The reference's xAPIC formula: cpu << 40 | vector << 16 | trigger << 4 | present,
    // and 1 << 18 | requester id (SVT 01, SQ 00).
    let e = Irte {
        vector: 0x94,
        dest: 3,
        level: false,
        source: Some(0x18),
        x2apic: false,
    };
    assert_eq!(e.encode(), [3 << 40 | 0x94 << 16 | 1, 1 << 18 | 0x18]);
    assert_eq!(Irte::decode(e.encode(), false), Some(e));
    let level = Irte { level: true, ..e };
    assert_eq!(level.encode()[0], 3 << 40 | 0x94 << 16 | 1 << 4 | 1);
    // An xAPIC destination keeps 8 bits.
    let wide = Irte { dest: 0x1ff, ..e };
    assert_eq!(wide.encode()[0] >> 40, 0xff);
    // x2APIC: the 32-bit destination in bits 63:32.
    let x2 = Irte {
        dest: 0x1_0203,
        x2apic: true,
        ..e
    };
    assert_eq!(x2.encode()[0], 0x1_0203 << 32 | 0x94 << 16 | 1);
    assert_eq!(Irte::decode(x2.encode(), true), Some(x2));
    // No source to check: SVT 00.
    let any = Irte { source: None, ..e };
    assert_eq!(any.encode()[1], 0);
    assert_eq!(Irte::decode(any.encode(), false), Some(any));
    assert_eq!(Irte::decode([0, 0], false), None);
    // Reserved fields stay clear: bits 14:12, 31:24, and 127:84.
    for v in [e, level, x2, any] {
        let [lo, hi] = v.encode();
        assert_eq!(lo & (0x7 << 12 | 0xff << 24), 0);
        assert_eq!(hi >> 20, 0);
    }
}

#[test]
fn remappable_msis_name_their_entry() {
    // The reference's: address 0xfee00000 | 3 << 3 (interrupt format, sub-handle valid),
    // data the index.
    assert_eq!(msi_remappable(100), (0xfee0_0018, 100));
    for index in 0..ENTRIES as u16 {
        let (a, d) = msi_remappable(index);
        assert_eq!(msi_index(a, d), Some(Ok(index as u32)));
    }
    // A handle in the address (no sub-handle): bits 19:5 and bit 2.
    assert_eq!(
        msi_index(0xfee0_0010 | 0x7fff << 5 | 1 << 2, 0),
        Some(Ok(0xffff))
    );
    // Sub-handle with reserved data bits: a unit refuses it.
    assert_eq!(msi_index(0xfee0_0018, 0x1_0000), Some(Err(())));
    // Compatibility format (what a device writes without remapping): no entry.
    assert_eq!(msi_index(0xfee0_1000, 0x4031), None);
    // Not an interrupt at all.
    assert_eq!(msi_index(0x1_fee0_0018, 0), None);
    assert_eq!(msi_index(0xfed0_0018, 0), None);
}

#[test]
fn remappable_redirection_entries() {
    // Index 2 in bits 63:49, format bit 48; vector, trigger, polarity as the pin's.
    assert_eq!(rte_high_remappable(2), 2 << 17 | 1 << 16);
    assert_eq!(
        rte_low_remappable(2, 0x32, true, true),
        0x32 | 1 << 13 | 1 << 15
    );
    assert_eq!(
        rte_low_remappable(0x8001, 0x31, false, false),
        0x31 | 1 << 11
    );
    for index in [0u16, 1, 23, 191, 0x7fff, 0x8000, 0xffff] {
        let high = rte_high_remappable(index);
        let low = rte_low_remappable(index, 0x40, true, false);
        assert_eq!(rte_index(high, low), Some(index as u32));
    }
    // The compatibility format: APIC id in bits 63:56.
    assert_eq!(rte_index(3 << 24, 0x31), None);
}
