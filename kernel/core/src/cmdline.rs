//! The kernel command line: space-separated words, unknown ones ignored.

/// A fault the kernel raises on purpose, to test its fault reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashTest {
    /// A page fault on an unmapped kernel address.
    PageFault,
    /// A kernel panic.
    Panic,
    /// Portals accept any entry address, so that a return to user mode can fault and
    /// the handling of that fault can be tested (the check in `create_pt` is what keeps
    /// it from happening otherwise).
    Return,
    /// Two loans of one object at once, which a kernel built with debug assertions
    /// catches (`obj::loans`) and a release kernel does not look for.
    Loan,
}

/// Options given on the kernel command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `serial`: drive the serial console on COM1.
    pub serial: bool,
    /// `novga`: no VGA text console.
    pub novga: bool,
    /// `iommu`: enable DMA and interrupt remapping.
    pub iommu: bool,
    /// `nopcid`: do not tag TLB entries of address spaces.
    pub nopcid: bool,
    /// `novpid`: do not tag TLB entries of virtual machines.
    pub novpid: bool,
    /// `crash=pagefault`, `crash=panic`, `crash=loan` or `crash=return`: fail on purpose
    /// after start-up, or let a return to user mode fail (tests only).
    pub crash: Option<CrashTest>,
}

impl Options {
    /// Parses a command line. The first word is often the kernel's file name; like every
    /// other unknown word it is ignored.
    pub fn parse(line: &[u8]) -> Options {
        let mut o = Options::default();
        for word in line
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            match word {
                b"serial" => o.serial = true,
                b"novga" => o.novga = true,
                b"iommu" => o.iommu = true,
                b"nopcid" => o.nopcid = true,
                b"novpid" => o.novpid = true,
                b"crash=pagefault" => o.crash = Some(CrashTest::PageFault),
                b"crash=panic" => o.crash = Some(CrashTest::Panic),
                b"crash=return" => o.crash = Some(CrashTest::Return),
                b"crash=loan" => o.crash = Some(CrashTest::Loan),
                _ => {}
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_set_flags_and_unknown_ones_are_ignored() {
        let o =
            Options::parse(b"/boot/facet.elf32  serial\tnovga iommu bogus=1 nopcid novpid serial");
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
}
