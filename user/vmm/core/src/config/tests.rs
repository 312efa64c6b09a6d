use super::*;

#[test]
fn the_documented_line() {
    let a = parse("name=vm1 mem=256 cpus=0,1 kernel=linux initrd=initrd -- console=ttyS0 noapic")
        .unwrap();
    assert_eq!(a.name, "vm1");
    assert_eq!(a.vcpus, None);
    assert_eq!(a.guest, "console=ttyS0 noapic");
}

#[test]
fn defaults_and_vcpus() {
    let a = parse("").unwrap();
    assert_eq!((a.name, a.vcpus, a.guest), ("vm", None, ""));
    let a = parse("vcpus=2 --").unwrap();
    assert_eq!((a.vcpus, a.guest), (Some(2), ""));
    // `--` inside a word is not the separator.
    let a = parse("name=a--b -- x -- y").unwrap();
    assert_eq!((a.name, a.guest), ("a--b", "x -- y"));
    assert_eq!(parse("--").unwrap().guest, "");
}

#[test]
fn profile_is_a_bare_word() {
    assert!(!parse("name=vm1").unwrap().profile);
    assert!(parse("name=vm1 profile -- quiet").unwrap().profile);
    assert_eq!(parse("profile=1"), Err(ArgsError::UnknownWord("profile=1")));
    // After `--` it is the guest's.
    assert!(!parse("-- profile").unwrap().profile);
    assert!(parse("fault").unwrap().fault && !parse("").unwrap().fault);
    assert_eq!(parse("fault=1"), Err(ArgsError::UnknownWord("fault=1")));
}

#[test]
fn bad_words_are_refused() {
    assert_eq!(parse("vcpus=0"), Err(ArgsError::BadVcpuCount("0")));
    assert_eq!(parse("vcpus=9"), Err(ArgsError::BadVcpuCount("9")));
    assert_eq!(parse("vcpus=x"), Err(ArgsError::BadVcpuCount("x")));
    assert_eq!(parse("name="), Err(ArgsError::BadName("")));
    assert_eq!(
        parse("name=this-name-is-far-too-long"),
        Err(ArgsError::BadName("this-name-is-far-too-long"))
    );
    assert_eq!(parse("name=a/b"), Err(ArgsError::BadName("a/b")));
    assert_eq!(parse("quiet"), Err(ArgsError::UnknownWord("quiet")));
    assert_eq!(parse("mem"), Err(ArgsError::UnknownWord("mem")));
    // Refusals print.
    let mut s = std::string::String::new();
    use core::fmt::Write;
    write!(s, "{}", ArgsError::UnknownWord("quiet")).unwrap();
    assert!(s.contains("after `--`"));
}

#[test]
fn cpus_in_turn() {
    assert_eq!(cpu_of_vcpu(0b1100, 0), Some(2));
    assert_eq!(cpu_of_vcpu(0b1100, 1), Some(3));
    assert_eq!(cpu_of_vcpu(0b1100, 2), Some(2));
    assert_eq!(cpu_of_vcpu(1 << 63, 5), Some(63));
    assert_eq!(cpu_of_vcpu(0, 0), None);
    let (cpus, n) = cpus_of(u64::MAX);
    assert_eq!(n, MAX_VCPUS as usize);
    assert_eq!(cpus[7], 7);
}

fn line(guest: &str) -> std::string::String {
    let mut out = [0u8; 128];
    let n = guest_command_line(guest, &mut out).unwrap();
    std::string::String::from_utf8(out[..n].to_vec()).unwrap()
}

#[test]
fn the_guest_line_gets_what_the_machine_needs() {
    assert_eq!(line(""), "noapic pci=off console=ttyS0");
    assert_eq!(line("quiet"), "quiet noapic pci=off console=ttyS0");
    assert_eq!(
        line("console=ttyS0 noapic pci=off"),
        "console=ttyS0 noapic pci=off"
    );
    assert_eq!(line("console=hvc0  rw"), "console=hvc0 rw noapic pci=off");
    // `noapic` as part of another word does not count.
    assert_eq!(line("xnoapic"), "xnoapic noapic pci=off console=ttyS0");
}

#[test]
fn a_guest_line_too_long_is_refused() {
    // "noapic pci=off console=ttyS0"
    let mut out = [0u8; 28];
    assert_eq!(guest_command_line("", &mut out), Some(28));
    let mut out = [0u8; 27];
    assert_eq!(guest_command_line("", &mut out), None);
    assert_eq!(
        guest_command_line("a-very-long-word-indeed", &mut out),
        None
    );
}
