//! Printing what the roottask was given.

use facet_abi::hip::{self, off};
use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, ROOT_SEL_SC, ROOT_UTCB_ADDR};
use facet_rt::println;

use crate::world::World;

pub fn print(w: &World) {
    let h = &w.hip;
    let ver = h.u32(off::API_VER);
    let flags = h.u32(off::API_FLG);
    println!(
        "roottask: HIP at {:#x} ({} bytes, {}), API {}.{}, features{}{}{}{}",
        w.hip_addr,
        h.u16(off::LENGTH),
        if h.is_valid() {
            "checksum ok"
        } else {
            "INVALID"
        },
        ver / 1000,
        ver % 1000,
        if flags & hip::FEAT_IOMMU != 0 {
            " IOMMU"
        } else {
            ""
        },
        if flags & hip::FEAT_VMX != 0 {
            " VMX"
        } else {
            ""
        },
        if flags & hip::FEAT_SVM != 0 {
            " SVM"
        } else {
            ""
        },
        if flags & hip::FEAT_UEFI != 0 {
            " UEFI"
        } else {
            ""
        },
    );
    println!(
        "roottask: capabilities PD {} EC {} SC {}; UTCB at {:#x}; {} object selectors, {} exception events, {} VM-exit events, {} GSIs",
        ROOT_SEL_PD,
        ROOT_SEL_EC,
        ROOT_SEL_SC,
        ROOT_UTCB_ADDR,
        h.u32(off::SEL_NUM),
        h.u32(off::SEL_EXC),
        h.u32(off::SEL_VMI),
        h.u32(off::SEL_GSI)
    );
    let cpus = (0..facet_abi::config::NUM_CPU)
        .filter(|&i| h.cpu(i).flags & 1 != 0)
        .count();
    println!("roottask: {} CPU(s) online", cpus);
    for i in 0..h.mem_count() {
        let m = h.mem(i);
        let kind = match m.mem_type {
            hip::MEM_HYPERVISOR => "hypervisor",
            hip::MEM_MB_MODULE => "module",
            1 => "available",
            2 => "reserved",
            3 => "ACPI",
            4 => "NVS",
            _ => "other",
        };
        println!(
            "roottask: memory [{:#014x}, +{:#x}) {}",
            m.addr, m.size, kind
        );
    }
    println!(
        "roottask: command line \"{}\"",
        core::str::from_utf8(w.cmdline()).unwrap_or("?")
    );
}
