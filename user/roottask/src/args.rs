//! The roottask's own command line (the multiboot module's), read through the HIP.
//!
//! Words: `test` runs the on-target suite; `bench` the benchmarks (`profile`: traced, not timed); `hold` keeps the roottask alive after it
//! (so the harness can inspect the machine); `usable=<hex>` is the usable-memory total
//! the harness expects in the memory map; `q35` says the machine is QEMU's q35 with an IOMMU
//! and the edu device; `iommu` that the kernel was told to turn the IOMMU on;
//! `modules=N` the number of multiboot modules (the roottask's and the programs'; 1 if
//! not given); `cpus=N` the number of CPUs the emulator
//! has; `above4g` that it has usable memory above 4 GiB; `uefi` that OVMF booted it (on
//! q35, without an IOMMU); `s3` that the machine can sleep in S3 and the harness wakes
//! it; `expect=svm|vmx|none` is the virtualization
//! extension the emulated CPU offers; `trace` names each test before it starts;
//! `skip=<prefix>` (up to eight) leaves out the tests whose names start with it;
//! `only=<prefix>` (up to eight) runs only the tests whose names start with one of them;
//! `return-fault` runs only the test for a kernel started with `crash=return`;
//! `leak-calls=N` and `leak-seed=S` set the steps and the seed of
//! `leak::random_load_gives_every_frame_back` (the long run of `docs/testing.md`).

/// Parsed roottask arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Args {
    pub test: bool,
    pub bench: bool,
    /// With `bench`: run each benchmark a few times between profile markers instead of
    /// timing it (`profile`), for a trace of QEMU's execution.
    pub profile: bool,
    pub hold: bool,
    /// Name each test before it runs (to find one that hangs).
    pub trace: bool,
    pub usable: Option<u64>,
    pub cpus: Option<usize>,
    /// Multiboot modules the harness passed (the roottask's own included).
    pub modules: usize,
    pub q35: bool,
    /// The machine has usable RAM above 4 GiB (`above4g`).
    pub above4g: bool,
    /// UEFI firmware booted the kernel, on q35 without an IOMMU (`uefi`).
    pub uefi: bool,
    /// The machine is QEMU's q35 with S3 enabled and an edu device, without an IOMMU, and
    /// the harness wakes it from S3 (`s3`).
    pub s3: bool,
    /// The kernel's command line says `iommu` and the machine has a unit: the HIP must
    /// report DMA remapping.
    pub iommu: bool,
    pub expect_virt: Option<&'static str>,
    /// The kernel runs with `crash=return`: run only the test of faults on the way back
    /// to user mode (`return-fault`).
    pub return_fault: bool,
    /// As init: end the run (QEMU's debug exit) once every VM has ended
    /// (`exit-when-done`).
    pub exit_when_done: bool,
    /// Steps of the random load of the leak test (`leak-calls=N`).
    pub leak_calls: Option<u64>,
    /// Its seed (`leak-seed=S`, decimal or 0x-prefixed hex).
    pub leak_seed: Option<u64>,
    /// Tests not to run: name prefixes (up to eight, 32 bytes each), from `skip=<prefix>`.
    skip: Prefixes,
    /// If any, the only tests to run: name prefixes, from `only=<prefix>`.
    only: Prefixes,
}

/// Up to eight test-name prefixes of up to 32 bytes each.
#[derive(Clone, Copy, Debug, Default)]
struct Prefixes {
    text: [[u8; 32]; 8],
    len: [u8; 8],
}

impl Prefixes {
    fn add(&mut self, prefix: &[u8]) {
        let Some(i) = self.len.iter().position(|&n| n == 0) else {
            return;
        };
        let n = prefix.len().min(32);
        self.text[i][..n].copy_from_slice(&prefix[..n]);
        self.len[i] = n as u8;
    }

    fn is_empty(&self) -> bool {
        self.len.iter().all(|&n| n == 0)
    }

    /// Whether `name` starts with one of the prefixes.
    fn match_name(&self, name: &str) -> bool {
        (self.text.iter().zip(self.len))
            .any(|(p, n)| n != 0 && name.as_bytes().starts_with(&p[..n as usize]))
    }
}

/// A number in decimal or with a `0x` prefix in hex.
fn number(text: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(text).ok()?;
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Args {
    pub fn parse(line: &[u8]) -> Args {
        let mut a = Args {
            modules: 1,
            ..Args::default()
        };
        for w in line.split(|c| *c == b' ').filter(|w| !w.is_empty()) {
            match w {
                b"test" => a.test = true,
                b"bench" => a.bench = true,
                b"profile" => a.profile = true,
                b"q35" => a.q35 = true,
                b"above4g" => a.above4g = true,
                b"uefi" => a.uefi = true,
                b"s3" => a.s3 = true,
                b"iommu" => a.iommu = true,
                b"hold" => a.hold = true,
                b"trace" => a.trace = true,
                b"return-fault" => a.return_fault = true,
                b"exit-when-done" => a.exit_when_done = true,
                b"expect=svm" => a.expect_virt = Some("svm"),
                b"expect=vmx" => a.expect_virt = Some("vmx"),
                b"expect=none" => a.expect_virt = Some("none"),
                _ => {
                    if let Some(n) = w.strip_prefix(b"cpus=") {
                        a.cpus = core::str::from_utf8(n).ok().and_then(|s| s.parse().ok());
                    }
                    if let Some(n) = w.strip_prefix(b"modules=") {
                        a.modules = core::str::from_utf8(n)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(1);
                    }
                    if let Some(prefix) = w.strip_prefix(b"skip=") {
                        a.skip.add(prefix);
                    }
                    if let Some(prefix) = w.strip_prefix(b"only=") {
                        a.only.add(prefix);
                    }
                    if let Some(n) = w.strip_prefix(b"leak-calls=") {
                        a.leak_calls = number(n);
                    }
                    if let Some(n) = w.strip_prefix(b"leak-seed=") {
                        a.leak_seed = number(n);
                    }
                    if let Some(hex) = w.strip_prefix(b"usable=0x") {
                        a.usable = core::str::from_utf8(hex)
                            .ok()
                            .and_then(|s| u64::from_str_radix(s, 16).ok());
                    }
                }
            }
        }
        a
    }

    /// Whether the test `name` is to be skipped: a `skip=` prefix names it, or `only=`
    /// prefixes were given and none names it.
    pub fn skips(&self, name: &str) -> bool {
        self.skip.match_name(name) || !self.only.is_empty() && !self.only.match_name(name)
    }
}
