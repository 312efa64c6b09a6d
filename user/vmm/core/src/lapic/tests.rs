use super::registers::*;
use super::*;
use crate::ports::testrng::Rng;

mod ipi;
mod timer;

const TSC_KHZ: u32 = 2_000_000;

/// An APIC as Linux leaves it after `setup_local_APIC`: software enabled.
fn enabled_lapic(vcpu: u32) -> Lapic {
    let mut lapic = Lapic::new(vcpu, TSC_KHZ, TSC_KHZ);
    write(&mut lapic, SVR, 0x1ff);
    lapic
}

fn read(lapic: &mut Lapic, msr: u32) -> u64 {
    lapic.read_msr(msr, 0).expect("readable")
}

fn write(lapic: &mut Lapic, msr: u32, value: u64) -> MsrEffect {
    lapic.write_msr(msr, value, 0).expect("writable")
}

#[test]
fn power_up_values() {
    let mut bsp = Lapic::new(0, TSC_KHZ, TSC_KHZ);
    assert_eq!(
        read(&mut bsp, IA32_APIC_BASE),
        0xfee0_0d00,
        "enabled, x2APIC, BSP"
    );
    assert_eq!(read(&mut bsp, ID), 0);
    assert_eq!(read(&mut bsp, VERSION), 0x0006_0014);
    assert_eq!(read(&mut bsp, LDR), 0x0000_0001);
    assert_eq!(read(&mut bsp, SVR), 0xff, "software disabled");
    for msr in [
        TPR,
        PPR,
        ESR,
        ICR,
        TIMER_INITIAL,
        TIMER_CURRENT,
        TIMER_DIVIDE,
    ] {
        assert_eq!(read(&mut bsp, msr), 0, "MSR {msr:#x}");
    }
    for msr in [LVT_CMCI, 0x832, 0x833, 0x834, 0x835, 0x836, 0x837] {
        assert_eq!(read(&mut bsp, msr), 0x0001_0000, "LVT {msr:#x} masked");
    }
    for msr in ISR_FIRST..=0x827 {
        assert_eq!(read(&mut bsp, msr), 0);
    }
    assert_eq!(read(&mut bsp, IA32_TSC_DEADLINE), 0);
    let mut ap = Lapic::new(17, TSC_KHZ, TSC_KHZ);
    assert_eq!(read(&mut ap, IA32_APIC_BASE), 0xfee0_0c00, "not the BSP");
    assert_eq!((read(&mut ap, ID), read(&mut ap, LDR)), (17, 0x0001_0002));
    assert_eq!(ap.id(), 17);
    assert!(Lapic::handles_msr(0x1b) && Lapic::handles_msr(0x6e0) && Lapic::handles_msr(0x8ff));
    assert!(!Lapic::handles_msr(0x7ff) && !Lapic::handles_msr(0x900));
}

#[test]
fn writable_registers_read_back() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, TPR, 0x1234_5678);
    assert_eq!(read(&mut lapic, TPR), 0x78, "bits 31:8 reserved");
    write(&mut lapic, SVR, 0xffff_ffff);
    assert_eq!(read(&mut lapic, SVR), 0x3ff);
    let cases = [
        (0x832, 0x0007_00ff), // timer: vector, mask, mode
        (0x833, 0x0001_07ff), // thermal
        (0x834, 0x0001_07ff), // performance
        (0x835, 0x0001_a7ff), // LINT0
        (0x836, 0x0001_a7ff), // LINT1
        (0x837, 0x0001_00ff), // error
        (LVT_CMCI, 0x0001_07ff),
    ];
    for (msr, writable) in cases {
        write(&mut lapic, msr, 0xffff_ffff);
        assert_eq!(read(&mut lapic, msr), writable, "LVT {msr:#x}");
    }
    write(&mut lapic, TIMER_DIVIDE, 0xffff_ffff);
    assert_eq!(read(&mut lapic, TIMER_DIVIDE), 0b1011);
    write(&mut lapic, 0x832, 0); // one-shot again
    write(&mut lapic, TIMER_INITIAL, 0xdead_beef);
    assert_eq!(read(&mut lapic, TIMER_INITIAL), 0xdead_beef);
}

#[test]
fn general_protection_where_hardware_faults() {
    let mut lapic = enabled_lapic(0);
    for msr in [
        EOI, SELF_IPI, 0x800, 0x801, 0x809, 0x80c, 0x80e, 0x831, 0x83a, 0x840, 0x8ff,
    ] {
        assert_eq!(
            lapic.read_msr(msr, 0),
            Err(GeneralProtection),
            "read {msr:#x}"
        );
    }
    let read_only = [
        ID,
        VERSION,
        PPR,
        LDR,
        ISR_FIRST,
        0x81f,
        IRR_FIRST,
        TIMER_CURRENT,
    ];
    for msr in read_only
        .into_iter()
        .chain([0x801, 0x809, 0x80e, 0x831, 0x8ff])
    {
        assert_eq!(
            lapic.write_msr(msr, 0, 0),
            Err(GeneralProtection),
            "write {msr:#x}"
        );
    }
    assert_eq!(
        lapic.write_msr(EOI, 1, 0),
        Err(GeneralProtection),
        "non-zero EOI"
    );
    assert_eq!(
        lapic.write_msr(ESR, 1, 0),
        Err(GeneralProtection),
        "non-zero ESR"
    );
    assert_eq!(
        lapic.write_msr(TPR, 1 << 32, 0),
        Err(GeneralProtection),
        "upper half"
    );
    assert_eq!(
        lapic.read_msr(0x10, 0),
        Err(GeneralProtection),
        "not an APIC MSR"
    );
    assert_eq!(read(&mut lapic, TPR), 0, "faulting writes change nothing");
}

#[test]
fn priorities_of_injection() {
    let mut lapic = enabled_lapic(0);
    assert!(lapic.accept(0x31, false));
    assert!(lapic.accept(0x51, false));
    assert_eq!(
        read(&mut lapic, IRR_FIRST + 1),
        1 << 0x11,
        "0x31 in IRR word 1"
    );
    assert_eq!(lapic.highest_injectable(), Some(0x51));
    lapic.acknowledge(0x51);
    assert_eq!(read(&mut lapic, ISR_FIRST + 2), 1 << 0x11);
    assert_eq!(read(&mut lapic, PPR), 0x50);
    assert_eq!(
        lapic.highest_injectable(),
        None,
        "0x31 below the in-service class"
    );
    lapic.accept(0x5f, false);
    assert_eq!(lapic.highest_injectable(), None, "same class as in service");
    lapic.accept(0x61, false);
    assert_eq!(lapic.highest_injectable(), Some(0x61), "nests above");
    lapic.acknowledge(0x61);
    assert_eq!(write(&mut lapic, EOI, 0), MsrEffect::None);
    assert_eq!(read(&mut lapic, ISR_FIRST + 3), 0, "EOI ended 0x61 first");
    write(&mut lapic, EOI, 0);
    assert_eq!(lapic.highest_injectable(), Some(0x5f));
    // The task priority holds back its class and those below.
    write(&mut lapic, TPR, 0x5f);
    assert_eq!(read(&mut lapic, PPR), 0x5f);
    assert_eq!(lapic.highest_injectable(), None);
    write(&mut lapic, TPR, 0x4f);
    assert_eq!(lapic.highest_injectable(), Some(0x5f));
}

#[test]
fn level_triggered_eoi_is_reported() {
    let mut lapic = enabled_lapic(0);
    lapic.accept(0x90, true);
    assert_eq!(read(&mut lapic, TMR_FIRST + 4), 1 << 0x10);
    lapic.acknowledge(0x90);
    assert_eq!(
        write(&mut lapic, EOI, 0),
        MsrEffect::LevelTriggeredEoi(0x90)
    );
    assert_eq!(
        write(&mut lapic, EOI, 0),
        MsrEffect::None,
        "nothing in service"
    );
    lapic.accept(0x90, false);
    assert_eq!(
        read(&mut lapic, TMR_FIRST + 4),
        0,
        "TMR follows the latest acceptance"
    );
}

#[test]
fn illegal_vectors_set_the_error_status() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, 0x837, 0xfe); // error LVT unmasked, vector 0xfe
    assert!(!lapic.accept(0x0f, false));
    assert_eq!(read(&mut lapic, ESR), 0, "latched only by an ESR write");
    write(&mut lapic, ESR, 0);
    assert_eq!(read(&mut lapic, ESR), 0x40, "receive illegal vector");
    write(&mut lapic, ESR, 0);
    assert_eq!(read(&mut lapic, ESR), 0, "cleared by the next write");
    assert_eq!(lapic.highest_injectable(), Some(0xfe), "error interrupt");
}

#[test]
fn software_disable_masks_and_refuses() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, 0x835, 0x700);
    assert!(lapic.lint0_extint());
    write(&mut lapic, SVR, 0xff);
    assert_eq!(
        read(&mut lapic, 0x835),
        0x0001_0700,
        "masked by the disable"
    );
    assert!(!lapic.lint0_extint());
    write(&mut lapic, 0x835, 0x700);
    assert_eq!(
        read(&mut lapic, 0x835),
        0x0001_0700,
        "cannot be unmasked while disabled"
    );
    assert!(!lapic.accept(0x40, false));
    assert_eq!(lapic.highest_injectable(), None);
}

#[test]
fn virtual_wire_mode_passes_the_pic_through_lint0() {
    let mut lapic = Lapic::new(0, TSC_KHZ, TSC_KHZ);
    assert!(
        !lapic.accepts_pic_interrupts(),
        "LINT0 masked after power-up"
    );
    lapic.enter_virtual_wire_mode();
    assert!(lapic.lint0_extint() && lapic.accepts_pic_interrupts());
    assert_eq!(read(&mut lapic, 0x835), 0x700);
    assert_eq!(read(&mut lapic, 0x836), 0x400, "LINT1 as NMI");
    write(&mut lapic, 0x835, 0x1_0700); // Linux masks LINT0 on the APs
    assert!(!lapic.accepts_pic_interrupts());
}

#[test]
fn apic_base_transitions() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, TPR, 0x20);
    write(&mut lapic, IA32_APIC_BASE, 0xfee0_0c00); // same mode; BSP flag ignored
    assert_eq!(read(&mut lapic, IA32_APIC_BASE), 0xfee0_0d00);
    assert_eq!(read(&mut lapic, TPR), 0x20, "state kept");
    for bad in [
        0xfee0_0800,
        0xfee0_0400,
        0xfee0_0c01,
        0xfee0_0e00,
        1 << 52 | 0xfee0_0c00,
    ] {
        assert_eq!(
            lapic.write_msr(IA32_APIC_BASE, bad, 0),
            Err(GeneralProtection),
            "{bad:#x}"
        );
    }
    write(&mut lapic, IA32_APIC_BASE, 0xfee0_0000); // disable
    assert_eq!(
        lapic.read_msr(TPR, 0),
        Err(GeneralProtection),
        "x2APIC MSRs gone"
    );
    assert!(lapic.accepts_pic_interrupts(), "INTR straight to the CPU");
    assert!(!lapic.accept(0x40, false));
    assert_eq!(read(&mut lapic, IA32_TSC_DEADLINE), 0);
    write(&mut lapic, IA32_APIC_BASE, 0xfee0_0c00); // back to x2APIC
    assert_eq!(read(&mut lapic, TPR), 0, "power-up state after the disable");
    assert_eq!(read(&mut lapic, SVR), 0xff);
}

#[test]
fn init_resets_all_but_id_and_mode() {
    let mut lapic = enabled_lapic(3);
    write(&mut lapic, TPR, 0x30);
    lapic.accept(0x80, false);
    write(&mut lapic, TIMER_INITIAL, 1000);
    lapic.init();
    assert_eq!(read(&mut lapic, TPR), 0);
    assert_eq!(read(&mut lapic, SVR), 0xff);
    assert_eq!(read(&mut lapic, IRR_FIRST + 4), 0);
    assert_eq!(lapic.next_deadline(), None);
    assert_eq!(read(&mut lapic, ID), 3);
    assert_eq!(read(&mut lapic, IA32_APIC_BASE), 0xfee0_0c00);
}

#[test]
fn hostile_msr_traffic_never_panics() {
    let mut rng = Rng(0x0a91c);
    let mut lapic = enabled_lapic(1);
    let mut now = 1_000_000u64;
    for _ in 0..300_000 {
        now += rng.below(10_000);
        let msr = match rng.below(8) {
            0 => IA32_APIC_BASE,
            1 => IA32_TSC_DEADLINE,
            2 => 0x7f0 + rng.below(0x120) as u32,
            _ => 0x800 + rng.below(0x40) as u32,
        };
        let value = match rng.below(4) {
            0 => rng.next(),
            1 => rng.next() & 0xffff_ffff,
            2 => now + rng.below(100_000),
            _ => rng.below(0x100),
        };
        match rng.below(6) {
            0 => {
                let _ = lapic.read_msr(msr, now);
            }
            1 => {
                lapic.accept(rng.byte(), rng.below(2) == 0);
            }
            2 => {
                if let Some(vector) = lapic.highest_injectable() {
                    lapic.acknowledge(vector);
                }
            }
            _ => {
                let _ = lapic.write_msr(msr, value, now);
            }
        }
        lapic.poll(now);
        assert_eq!(lapic.irr.word(0) & 0xffff, 0, "no vector below 16 in IRR");
    }
}
