//! The roottask's own command line (the multiboot module's), read through the HIP.
//!
//! Words: `test` runs the on-target suite; `bench` the benchmarks (`profile`: traced, not timed); `hold` keeps the roottask alive after it
//! (so the harness can inspect the machine); `usable=<hex>` is the usable-memory total
//! the harness expects in the memory map; `q35` says the machine is QEMU's q35 with an IOMMU
//! and the edu device; `iommu` that the kernel was told to turn the IOMMU on;
//! `modules=N` the number of multiboot modules (the roottask's and the programs'; 1 if
//! not given); `cpus=N` the number of CPUs the emulator
//! has; `expect=svm|vmx|none` is the virtualization
//! extension the emulated CPU offers; `trace` names each test before it starts;
//! `skip=<prefix>` (up to eight) leaves out the tests whose names start with it;
//! `return-fault` runs only the test for a kernel started with `crash=return`.

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
    /// Tests not to run: name prefixes (up to eight, 32 bytes each), from `skip=<prefix>`.
    skip: [[u8; 32]; 8],
    skip_len: [u8; 8],
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
                        a.add_skip(prefix);
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

    fn add_skip(&mut self, prefix: &[u8]) {
        let Some(i) = self.skip_len.iter().position(|&n| n == 0) else {
            return;
        };
        let n = prefix.len().min(32);
        self.skip[i][..n].copy_from_slice(&prefix[..n]);
        self.skip_len[i] = n as u8;
    }

    /// Whether the test `name` is to be skipped.
    pub fn skips(&self, name: &str) -> bool {
        (self.skip.iter().zip(self.skip_len))
            .any(|(p, n)| n != 0 && name.as_bytes().starts_with(&p[..n as usize]))
    }
}
