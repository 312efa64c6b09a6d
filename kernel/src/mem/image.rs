//! Where the linker placed the kernel image (symbols from `kernel/link.ld`).

/// The kernel's link offset: virtual = physical + this, for everything but the boot code.
pub const KERNEL_OFFSET: u64 = 0xffff_ffff_8000_0000;

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __stack_guard: u8;
    static __stack_bottom: u8;
    static __stack_top: u8;
    static __ist_guard: u8;
    static __ist_bottom: u8;
    static __ist_top: u8;
}

macro_rules! sym {
    ($s:ident) => {
        // Only the address of the linker symbol is taken, never its contents.
        core::ptr::addr_of!($s) as u64
    };
}

/// A virtual range of the kernel image.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    pub start: u64,
    pub end: u64,
}

/// Physical extent of the whole image, boot code included.
pub fn phys_range() -> (u64, u64) {
    (sym!(__kernel_phys_start), sym!(__kernel_phys_end))
}
/// Code.
pub fn text() -> Section {
    Section {
        start: sym!(__text_start),
        end: sym!(__text_end),
    }
}
/// Read-only data.
pub fn rodata() -> Section {
    Section {
        start: sym!(__rodata_start),
        end: sym!(__rodata_end),
    }
}
/// Data and BSS.
pub fn data() -> Section {
    Section {
        start: sym!(__data_start),
        end: sym!(__data_end),
    }
}
/// The boot CPU's kernel stack (its guard page is the page below `start`).
pub fn stack() -> Section {
    Section {
        start: sym!(__stack_bottom),
        end: sym!(__stack_top),
    }
}
/// The interrupt stack for NMI, double fault and machine check.
pub fn ist() -> Section {
    Section {
        start: sym!(__ist_bottom),
        end: sym!(__ist_top),
    }
}
/// The guard pages, which must stay unmapped.
pub fn guards() -> [u64; 2] {
    [sym!(__stack_guard), sym!(__ist_guard)]
}
