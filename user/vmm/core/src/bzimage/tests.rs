use super::*;
use std::vec;
use std::vec::Vec;

/// A well-formed image shaped like Debian's 6.1 cloud kernel: protocol 2.15, 39 setup
/// sectors, relocatable, 2 MiB alignment, preferred at 16 MiB, 51.5 MiB init_size,
/// `kernel_len` bytes of kernel followed by a 64-byte trailer that is not kernel.
pub(crate) fn sample_image(kernel_len: usize) -> Vec<u8> {
    let setup_sects = 39;
    let kernel_offset = (setup_sects + 1) * 512;
    let mut f = vec![0u8; kernel_offset + kernel_len + 64];
    f[0x1f1] = setup_sects as u8;
    put32(&mut f, 0x1f4, (kernel_len / 16) as u32);
    f[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    f[0x200] = 0xeb;
    f[0x201] = 0x6a; // header ends at 0x26c
    f[0x202..0x206].copy_from_slice(b"HdrS");
    f[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    f[0x211] = 1; // LOADED_HIGH
    put32(&mut f, 0x214, 0x10_0000);
    put32(&mut f, 0x22c, 0x7fff_ffff);
    put32(&mut f, 0x230, 0x20_0000);
    f[0x234] = 1;
    f[0x235] = 21;
    f[0x236..0x238].copy_from_slice(&0x7fu16.to_le_bytes());
    put32(&mut f, 0x238, 0x7ff);
    f[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
    put32(&mut f, 0x260, 0x337_8000);
    for (i, b) in f[kernel_offset..kernel_offset + kernel_len]
        .iter_mut()
        .enumerate()
    {
        *b = (i % 251) as u8 + 1;
    }
    f
}

fn put32(f: &mut [u8], at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn parses_the_fields_a_loader_needs() {
    let f = sample_image(0x4000);
    let img = BzImage::parse(&f).unwrap();
    assert_eq!(img.protocol, 0x020f);
    assert_eq!(img.kernel_offset(), 40 * 512);
    assert_eq!(img.kernel().len(), 0x4000);
    assert_eq!(img.kernel()[0], 1);
    assert_eq!(img.kernel_alignment, 0x20_0000);
    assert!(img.relocatable);
    assert_eq!(img.pref_address, 0x100_0000);
    assert_eq!(img.init_size, 0x337_8000);
    assert_eq!(img.cmdline_size, 0x7ff);
    assert_eq!(img.initrd_addr_max, 0x7fff_ffff);
    assert!(img.loadable_above_4g);
    let header = img.setup_header();
    assert_eq!(header.len(), 0x26c - 0x1f1);
    assert_eq!(&header[0x202 - 0x1f1..0x206 - 0x1f1], b"HdrS");
}

#[test]
fn zero_setup_sects_means_four() {
    let mut f = sample_image(0x1000);
    f[0x1f1] = 0;
    let img = BzImage::parse(&f).unwrap();
    assert_eq!(img.kernel_offset(), 5 * 512);
}

#[test]
fn init_size_is_at_least_the_kernel() {
    let mut f = sample_image(0x2000);
    put32(&mut f, 0x260, 0x100);
    assert_eq!(BzImage::parse(&f).unwrap().init_size, 0x2000);
}

#[test]
fn each_malformation_has_its_own_error() {
    let good = sample_image(0x1000);
    let with = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good.clone();
        change(&mut f);
        BzImage::parse(&f).unwrap_err()
    };
    assert_eq!(
        BzImage::parse(&good[..0x200]).unwrap_err(),
        ImageError::TooShortForHeader {
            needed: 0x268,
            actual: 0x200
        }
    );
    assert_eq!(with(&|f| f[0x1fe] = 0), ImageError::BadBootFlag(0xaa00));
    assert!(matches!(
        with(&|f| f[0x202] = b'X'),
        ImageError::BadHeaderMagic(_)
    ));
    assert_eq!(
        with(&|f| f[0x206..0x208].copy_from_slice(&0x020bu16.to_le_bytes())),
        ImageError::ProtocolTooOld(0x020b)
    );
    assert_eq!(
        with(&|f| f[0x201] = 0x90),
        ImageError::HeaderTooLong { end: 0x292 }
    );
    assert_eq!(
        with(&|f| f[0x201] = 0x60),
        ImageError::HeaderTooShort { end: 0x262 }
    );
    assert_eq!(with(&|f| f[0x211] = 0), ImageError::NotLoadedHigh);
    assert_eq!(with(&|f| f[0x236] = 0x7e), ImageError::No64BitEntry);
    assert_eq!(
        with(&|f| f[0x1f1] = 255),
        ImageError::SetupBeyondFile {
            setup_bytes: 256 * 512,
            file: good.len()
        }
    );
    assert_eq!(with(&|f| put32(f, 0x1f4, 0)), ImageError::EmptyKernel);
    assert_eq!(
        with(&|f| put32(f, 0x1f4, 0x200)),
        ImageError::KernelTruncated {
            end: 40 * 512 + 0x2000,
            file: good.len()
        }
    );
    assert_eq!(
        with(&|f| put32(f, 0x230, 0x30_0000)),
        ImageError::BadKernelAlignment(0x30_0000)
    );
    assert_eq!(
        with(&|f| put32(f, 0x230, 0x800)),
        ImageError::BadKernelAlignment(0x800)
    );
    assert_eq!(
        with(&|f| {
            f[0x234] = 0;
            f[0x258] = 0x10;
        }),
        ImageError::UnalignedLoadAddress(0x100_0010)
    );
}

#[test]
fn huge_syssize_does_not_overflow() {
    let mut f = sample_image(0x1000);
    put32(&mut f, 0x1f4, u32::MAX);
    assert!(matches!(
        BzImage::parse(&f),
        Err(ImageError::KernelTruncated { .. })
    ));
}

#[test]
fn errors_read_as_sentences() {
    let text = std::format!("{}", ImageError::No64BitEntry);
    assert!(text.contains("32-bit-only"));
}

/// A small deterministic generator (xorshift64*), enough for hostile-input tests.
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new(seed: u64) -> Self {
        Random(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = Random::new(0x5eed);
    let good = sample_image(0x800);
    for round in 0..20_000 {
        // Half the rounds corrupt a valid image in a few header bytes, so that parsing
        // gets deep; the other half are noise of random length.
        let f: Vec<u8> = if round % 2 == 0 {
            let mut f = good.clone();
            for _ in 0..1 + rng.next() % 6 {
                let at = 0x1f0 + (rng.next() % 0x80) as usize;
                f[at] = rng.next() as u8;
            }
            let keep = (rng.next() as usize) % (f.len() + 1);
            f.truncate(keep.max(f.len() / 2));
            f
        } else {
            let len = (rng.next() % 4096) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        };
        if let Ok(img) = BzImage::parse(&f) {
            assert!(img.kernel_offset() + img.kernel().len() <= f.len());
            assert!(img.setup_header().len() >= 0x268 - 0x1f1);
            assert!(img.kernel_alignment.is_power_of_two());
        }
    }
}

/// Parses a real kernel: `FACET_BZIMAGE=/boot/vmlinuz-... cargo test -- --ignored`.
#[test]
#[ignore]
fn real_kernel_from_environment() {
    let path = std::env::var("FACET_BZIMAGE").expect("FACET_BZIMAGE names a bzImage");
    let f = std::fs::read(path).expect("readable bzImage");
    let img = BzImage::parse(&f).unwrap();
    assert!(img.protocol >= MIN_PROTOCOL);
    assert!(img.init_size >= img.kernel().len() as u64);
    let mut mem = vec![0u8; 256 << 20];
    let loaded = crate::boot_params::load_linux(&mut mem, &img, b"console=ttyS0", &[], None);
    let loaded = loaded.unwrap();
    std::println!("{img:x?}\n{:x?}", loaded.plan);
}
