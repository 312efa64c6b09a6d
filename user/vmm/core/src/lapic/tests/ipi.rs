use super::*;

fn send(lapic: &mut Lapic, icr: u64) -> Option<IpiRequest> {
    match write(lapic, ICR, icr) {
        MsrEffect::SendIpi(request) => Some(request),
        MsrEffect::None => None,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn fixed_ipi_to_a_physical_destination() {
    let mut lapic = enabled_lapic(0);
    // Linux's x2APIC physical mode: destination in the high half, vector 0xfb.
    let request = send(&mut lapic, 1 << 32 | 0xfb).expect("sent");
    assert_eq!(
        request,
        IpiRequest {
            kind: IpiKind::Fixed {
                vector: 0xfb,
                level_triggered: false
            },
            destination: IpiDestination::Physical(1),
        }
    );
    assert!(request.targets(0, 1) && !request.targets(0, 0) && !request.targets(0, 2));
    assert_eq!(request.fixed_vector(), Some(0xfb));
    assert_eq!(read(&mut lapic, ICR), 1 << 32 | 0xfb, "ICR reads back");
    let broadcast = send(&mut lapic, 0xffff_ffff << 32 | 0x40).expect("sent");
    assert!(broadcast.targets(0, 0) && broadcast.targets(0, 7));
}

#[test]
fn logical_destinations_use_clusters() {
    let mut lapic = enabled_lapic(0);
    assert_eq!(logical_id(0), 0x0000_0001);
    assert_eq!(logical_id(1), 0x0000_0002);
    assert_eq!(logical_id(33), 0x0002_0002);
    // Cluster 0, members 0 and 1 (Linux's x2APIC cluster mode).
    let request = send(&mut lapic, 0x3 << 32 | 1 << 11 | 0x41).expect("sent");
    assert_eq!(request.destination, IpiDestination::Logical(3));
    assert!(request.targets(0, 0) && request.targets(0, 1) && !request.targets(0, 2));
    assert!(
        !request.targets(0, 16),
        "member 0 of cluster 1 is another APIC"
    );
    let cluster1 = send(&mut lapic, 0x0001_0001 << 32 | 1 << 11 | 0x41).expect("sent");
    assert!(cluster1.targets(0, 16) && !cluster1.targets(0, 0));
    let broadcast = send(&mut lapic, 0xffff_ffff << 32 | 1 << 11 | 0x41).expect("sent");
    assert!(broadcast.targets(0, 0) && broadcast.targets(0, 40));
}

#[test]
fn shorthands() {
    let mut lapic = enabled_lapic(2);
    let only_self = send(&mut lapic, 1 << 18 | 0x50).expect("sent");
    assert_eq!(only_self.destination, IpiDestination::OnlySelf);
    assert!(only_self.targets(2, 2) && !only_self.targets(2, 0));
    let all = send(&mut lapic, 2 << 18 | 0x50).expect("sent");
    assert!(all.targets(2, 2) && all.targets(2, 0));
    let others = send(&mut lapic, 3 << 18 | 7 << 32 | 0x50).expect("sent");
    assert_eq!(
        others.destination,
        IpiDestination::AllExcludingSelf,
        "ignores the ID"
    );
    assert!(!others.targets(2, 2) && others.targets(2, 0));
}

/// Linux's `wakeup_secondary_cpu_via_init`: INIT assert, INIT de-assert, then two
/// start-up IPIs with the trampoline's page.
#[test]
fn init_and_start_up_sequence() {
    let mut bsp = enabled_lapic(0);
    let init = send(&mut bsp, 1 << 32 | 0xc500).expect("INIT assert");
    assert_eq!(init.kind, IpiKind::Init);
    assert_eq!(init.destination, IpiDestination::Physical(1));
    assert_eq!(
        send(&mut bsp, 1 << 32 | 0x8500),
        None,
        "INIT de-assert sends nothing"
    );
    let sipi = send(&mut bsp, 1 << 32 | 0x0600 | 0x9a).expect("start-up");
    assert_eq!(sipi.kind, IpiKind::StartUp { vector: 0x9a });
    assert_eq!(sipi.fixed_vector(), None);
    assert!(sipi.targets(0, 1));
}

#[test]
fn other_delivery_modes() {
    let mut lapic = enabled_lapic(0);
    let kind = |lapic: &mut Lapic, icr| send(lapic, icr).map(|request| request.kind);
    assert_eq!(
        kind(&mut lapic, 0x8130),
        Some(IpiKind::LowestPriority {
            vector: 0x30,
            level_triggered: true
        })
    );
    assert_eq!(kind(&mut lapic, 0x200), Some(IpiKind::Smi));
    assert_eq!(kind(&mut lapic, 0x400), Some(IpiKind::Nmi));
    assert_eq!(kind(&mut lapic, 0x300), None, "reserved delivery mode");
    assert_eq!(kind(&mut lapic, 0x700), None, "ExtINT is not an IPI");
}

#[test]
fn icr_drops_reserved_bits_and_delivery_status() {
    let mut lapic = enabled_lapic(0);
    send(&mut lapic, 0xffff_ffff_ffff_f0ff);
    assert_eq!(read(&mut lapic, ICR), 0xffff_ffff_000c_c0ff);
}

#[test]
fn illegal_vector_is_not_sent() {
    let mut lapic = enabled_lapic(0);
    assert_eq!(send(&mut lapic, 1 << 32 | 0x0f), None);
    write(&mut lapic, ESR, 0);
    assert_eq!(read(&mut lapic, ESR), 0x20, "send illegal vector");
    // NMI and INIT carry no vector: any value is fine.
    assert!(send(&mut lapic, 0x400 | 0x01).is_some());
}

#[test]
fn self_ipi_register_sets_irr() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, SELF_IPI, 0x1_0042); // bits above the vector are ignored
    assert_eq!(lapic.highest_injectable(), Some(0x42));
    assert_eq!(read(&mut lapic, TMR_FIRST + 2), 0, "edge-triggered");
}
