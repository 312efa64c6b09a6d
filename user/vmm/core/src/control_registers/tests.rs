use super::*;

const REAL: ControlState = ControlState {
    cr0: 0x6000_0010,
    cr4: 0,
    efer: 0,
};

#[test]
fn linux_trampoline_into_protected_and_long_mode() {
    // CR0_STATE without PG: PE, MP, ET, NE, WP, AM.
    let pm = REAL.write_cr0(0x0005_0033).unwrap();
    assert_eq!(pm.cr0, 0x0005_0033);
    assert_eq!(pm.efer, 0);
    let with_pae = pm.write_cr4(CR4_PAE, u64::MAX).unwrap();
    let lme = ControlState {
        efer: EFER_LME,
        ..with_pae
    };
    let long = lme.write_cr0(0x8005_0033).unwrap();
    assert_eq!(long.efer, EFER_LME | EFER_LMA);
    // Paging off again leaves long mode.
    assert_eq!(long.write_cr0(0x0005_0033).unwrap().efer, EFER_LME);
}

#[test]
fn what_a_cpu_refuses() {
    assert_eq!(REAL.write_cr0(CR0_PG), Err(GeneralProtection));
    assert_eq!(REAL.write_cr0(CR0_NW | CR0_PE), Err(GeneralProtection));
    assert_eq!(REAL.write_cr0(1 << 32), Err(GeneralProtection));
    let lme_no_pae = ControlState {
        efer: EFER_LME,
        ..REAL
    };
    assert_eq!(
        lme_no_pae.write_cr0(CR0_PG | CR0_PE),
        Err(GeneralProtection)
    );
    assert_eq!(REAL.write_cr4(1 << 13, !(1 << 13)), Err(GeneralProtection));
    let long = ControlState {
        cr0: CR0_PG | CR0_PE,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
    };
    assert_eq!(long.write_cr4(0, u64::MAX), Err(GeneralProtection));
    let pcid = ControlState {
        cr4: CR4_PAE | CR4_PCIDE,
        ..long
    };
    assert_eq!(pcid.write_cr0(CR0_PE), Err(GeneralProtection));
}

#[test]
fn clts_and_lmsw() {
    let ts = ControlState {
        cr0: CR0_PE | CR0_TS,
        ..REAL
    };
    assert_eq!(ts.clts().cr0, CR0_PE);
    // LMSW sets PE but never clears it.
    assert_eq!(REAL.lmsw(1).cr0, 0x6000_0011);
    assert_eq!(ts.lmsw(0).cr0, CR0_PE);
    assert_eq!(REAL.lmsw(0xfff0).cr0, REAL.cr0);
}
