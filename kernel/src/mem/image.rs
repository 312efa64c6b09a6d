//! Where the linker placed the kernel image (symbols from `kernel/link.ld`).

/// The kernel's link offset: virtual = physical + this, for everything but the boot code.
pub const KERNEL_OFFSET: u64 = 0xffff_ffff_8000_0000;

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __init_start: u8;
    static __init_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __stack_guard: u8;
    static __stack_bottom: u8;
    static __stack_top: u8;
    static __ist_df_guard: u8;
    static __ist_df_bottom: u8;
    static __ist_df_top: u8;
    static __ist_nmi_guard: u8;
    static __ist_nmi_bottom: u8;
    static __ist_nmi_top: u8;
    static __ist_mc_guard: u8;
    static __ist_mc_bottom: u8;
    static __ist_mc_top: u8;
    static __ist_gp_guard: u8;
    static __ist_gp_bottom: u8;
    static __ist_gp_top: u8;
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
/// The boot-only part at the end of `.text` (`.init.text`): code that runs only while the
/// bootstrap CPU boots, unmapped and given to the pool before the roottask runs
/// ([`super::release_boot_only`]).
pub fn init_text() -> Section {
    Section {
        start: sym!(__init_start),
        end: sym!(__init_end),
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
/// The bootstrap CPU's interrupt stacks, in IST order (see `arch::stacks`).
pub fn ist() -> [Section; 4] {
    [
        Section {
            start: sym!(__ist_df_bottom),
            end: sym!(__ist_df_top),
        },
        Section {
            start: sym!(__ist_nmi_bottom),
            end: sym!(__ist_nmi_top),
        },
        Section {
            start: sym!(__ist_mc_bottom),
            end: sym!(__ist_mc_top),
        },
        Section {
            start: sym!(__ist_gp_bottom),
            end: sym!(__ist_gp_top),
        },
    ]
}

/// The bootstrap CPU's stack tops.
pub fn bsp_stacks() -> crate::arch::stacks::CpuStacks {
    crate::arch::stacks::CpuStacks {
        kernel: stack().end,
        ist: ist().map(|s| s.end),
    }
}

/// The guard pages, which must stay unmapped.
pub fn guards() -> [u64; 5] {
    [
        sym!(__stack_guard),
        sym!(__ist_df_guard),
        sym!(__ist_nmi_guard),
        sym!(__ist_mc_guard),
        sym!(__ist_gp_guard),
    ]
}
