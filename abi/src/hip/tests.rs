extern crate std;
use super::*;

#[test]
fn layout_matches_the_reference() {
    assert_eq!(IOAPIC_DESC_OFFSET, 0xc88);
    assert_eq!(MEM_DESC_OFFSET, 0xd18);
    assert_eq!(MAX_MEM_DESC, 31);
}

#[test]
fn written_hip_reads_back_and_checks() {
    let mut page = std::vec![0xaau8; PAGE_SIZE];
    let mut w = HipWriter::new(&mut page).unwrap();
    w.add_features(FEAT_SVM);
    w.set_cpu(
        1,
        &CpuDesc {
            flags: 1,
            core: 1,
            acpi_id: 1,
            lapic: [1, 0x14, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        },
    );
    w.set_ioapic(
        0,
        &IoapicDesc {
            id: 0,
            version: 0x20,
            gsi_base: 0,
            base: 0xfec0_0000,
        },
    );
    assert!(w.push_mem(MemDesc {
        addr: 0,
        size: 0x9fc00,
        mem_type: 1,
        aux: 0
    }));
    assert!(w.push_mem(MemDesc {
        addr: 0x20_0000,
        size: 0x1000,
        mem_type: MEM_HYPERVISOR,
        aux: 0
    }));
    w.finish();
    let r = HipReader::new(&page);
    assert!(r.is_valid());
    assert_eq!(r.u32(off::API_VER), 4003);
    assert_eq!(r.u32(off::API_FLG), FEAT_SVM);
    assert_eq!(r.mem_count(), 2);
    assert_eq!(r.mem(1).mem_type, MEM_HYPERVISOR);
    assert_eq!(r.cpu(1).lapic[1], 0x14);
    assert_eq!(r.ioapic(0).base, 0xfec0_0000);
    assert_eq!(
        r.u16(off::LENGTH) as usize,
        MEM_DESC_OFFSET + 2 * MEM_DESC_SIZE
    );
    page[0x20] ^= 1;
    assert!(!HipReader::new(&page).is_valid());
}

#[test]
fn full_page_refuses_more_descriptors() {
    let mut page = std::vec![0u8; PAGE_SIZE];
    let mut w = HipWriter::new(&mut page).unwrap();
    for _ in 0..MAX_MEM_DESC {
        assert!(w.push_mem(MemDesc::default()));
    }
    assert!(!w.push_mem(MemDesc::default()));
    assert!(HipWriter::new(&mut [0u8; 100]).is_none());
}
