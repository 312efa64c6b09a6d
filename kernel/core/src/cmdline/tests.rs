use super::*;

#[test]
fn known_words_set_flags_and_unknown_ones_are_ignored() {
    let o = Options::parse(b"/boot/facet.elf32  serial\tnovga iommu bogus=1 nopcid novpid serial");
    assert!(o.serial && o.novga && o.iommu && o.nopcid && o.novpid);
    assert_eq!(o.crash, None);
    assert_eq!(Options::parse(b""), Options::default());
    assert_eq!(Options::parse(b"serialx iommu2 SERIAL"), Options::default());
    assert_eq!(Options::parse(b"crash=panic").crash, Some(CrashTest::Panic));
    assert_eq!(Options::parse(b"crash=loan").crash, Some(CrashTest::Loan));
    assert_eq!(
        Options::parse(b"crash=return").crash,
        Some(CrashTest::Return)
    );
    assert_eq!(
        Options::parse(b"crash=pagefault").crash,
        Some(CrashTest::PageFault)
    );
    assert!(Options::parse(&[0xff, b' ', 0x00, b' ', b'n', b'o', b'v', b'g', b'a']).novga);
}

#[test]
fn pool_size_in_mib_or_gib() {
    let pool = |line: &[u8]| Options::parse(line).pool;
    assert_eq!(pool(b"serial pool=64"), Some(64 << 20));
    assert_eq!(pool(b"pool=64M"), Some(64 << 20));
    assert_eq!(pool(b"pool=2G"), Some(2 << 30));
    assert_eq!(pool(b"pool=1024g"), Some(1 << 40));
    assert_eq!(
        pool(b"pool=1 pool=3"),
        Some(3 << 20),
        "the last word counts"
    );
    for bad in [
        &b"pool="[..],
        b"pool=0",
        b"pool=-1",
        b"pool=1.5",
        b"pool=0x40",
        b"pool=64K",
        b"pool=M",
        b"pool=1025G",
        b"pool=99999999999999999999",
        b"pool=18446744073709551615",
        b"pool=17592186044417M",
    ] {
        assert_eq!(
            pool(bad),
            None,
            "{}",
            std::string::String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(pool(b"mempool=64 pool 64"), None);
}
