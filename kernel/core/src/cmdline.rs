//! The kernel command line: space-separated words, unknown ones ignored. The
//! reference's five words (`serial`, `novga`, `iommu`, `nopcid`, `novpid`) and Facet's
//! own: `pool=N` (the kernel pool's size) and the `crash=` tests.

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
    /// `pool=N` (Facet's): the kernel pool's size in bytes, from N MiB (`pool=64`,
    /// `pool=64M`) or GiB (`pool=1G`); `None` without the word or with a number that
    /// does not parse (the default size then, `pool::size`).
    pub pool: Option<u64>,
}

/// The size `pool=` gives: decimal MiB, or with an `M` or `G` suffix; none for 0, for
/// anything else, or beyond 2^40 bytes.
fn pool_bytes(text: &[u8]) -> Option<u64> {
    let (digits, unit) = match text.split_last()? {
        (b'M' | b'm', rest) => (rest, 20),
        (b'G' | b'g', rest) => (rest, 30),
        _ => (text, 20),
    };
    let n: u64 = core::str::from_utf8(digits).ok()?.parse().ok()?;
    let bytes = n.checked_shl(unit).filter(|&b| n != 0 && b >> unit == n)?;
    (bytes <= 1 << 40).then_some(bytes)
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
                _ => {
                    if let Some(n) = word.strip_prefix(b"pool=") {
                        o.pool = pool_bytes(n);
                    }
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests;
