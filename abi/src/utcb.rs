//! The UTCB (user thread control block) layout: a header, then message words, which an
//! exception or VM exit message fills with architectural state in the layout below.
//! All offsets are bytes from the start of the UTCB page.

/// Header: items (untyped count bits 15:0, typed count bits 31:16).
pub const ITEMS: usize = 0;
/// Header: translate window CRD.
pub const XLT: usize = 8;
/// Header: delegate window CRD.
pub const DEL: usize = 16;
/// Header: TLS word.
pub const TLS: usize = 24;
/// First message word.
pub const DATA: usize = 32;

pub const MTD: usize = 32;
pub const INST_LEN: usize = 40;
pub const RIP: usize = 48;
pub const RFLAGS: usize = 56;
pub const INTR_STATE: usize = 64;
pub const ACTV_STATE: usize = 68;
pub const INJ: usize = 72;
pub const VECT_INFO: usize = 80;
pub const VECT_ERROR: usize = 84;
pub const RAX: usize = 88;
pub const RCX: usize = 96;
pub const RDX: usize = 104;
pub const RBX: usize = 112;
pub const RSP: usize = 120;
pub const RBP: usize = 128;
pub const RSI: usize = 136;
pub const RDI: usize = 144;
pub const R8: usize = 152;
pub const QUAL: usize = 216;
pub const CTRL: usize = 232;
pub const XCR0: usize = 240;
pub const CR0: usize = 248;
pub const CR2: usize = 256;
pub const CR3: usize = 264;
pub const CR4: usize = 272;
pub const PDPTE: usize = 280;
pub const CR8: usize = 312;
pub const EFER: usize = 320;
pub const PAT: usize = 328;
pub const STAR: usize = 336;
pub const LSTAR: usize = 344;
pub const FMASK: usize = 352;
pub const KERNEL_GS_BASE: usize = 360;
pub const DR7: usize = 368;
pub const SYSENTER_CS: usize = 376;
pub const SYSENTER_RSP: usize = 384;
pub const SYSENTER_RIP: usize = 392;
/// Segments, 16 bytes each: selector u16, access rights u16, limit u32, base u64.
pub const ES: usize = 400;
pub const CS: usize = 416;
pub const SS: usize = 432;
pub const DS: usize = 448;
pub const FS: usize = 464;
pub const GS: usize = 480;
pub const LDTR: usize = 496;
pub const TR: usize = 512;
pub const GDTR: usize = 528;
pub const IDTR: usize = 544;
pub const TSC_VAL: usize = 560;
pub const TSC_OFF: usize = 568;
/// TSC_AUX (u32), then the exception intercept bitmap (u32) under MTD CTRL.
pub const TSC_AUX: usize = 576;
pub const EXC_BITMAP: usize = 580;
/// The TPR threshold (u32) under MTD TPR (VMX with a TPR shadow).
pub const TPR_THRESHOLD: usize = 584;
/// CR0 and CR4 bits whose guest writes exit (VMX; under MTD CTRL).
pub const CR0_MON: usize = 632;
pub const CR4_MON: usize = 640;
/// The VMM's timeout in TSC ticks from now (all ones: none; VMX, under MTD TSC_TIMEOUT).
pub const TSC_TIMEOUT: usize = 656;
/// Bits of the INJ word's low half that are requests to the kernel, not part of the
/// event: an exit when the guest can take an interrupt (interrupt window), and, on
/// VMX, when it can take an NMI.
pub const INJ_REQUEST_INTR_WINDOW: u64 = 1 << 12;
pub const INJ_REQUEST_NMI_WINDOW: u64 = 1 << 13;
/// End of the architectural-state layout.
pub const STATE_END: usize = 664;
/// Number of message words the state layout occupies (what a state message's `items`
/// says).
pub const STATE_WORDS: u64 = ((STATE_END - DATA) / 8) as u64;
/// Typed items are 16 bytes (CRD, metadata), from the end of the page downwards.
pub const TYPED_ITEM_SIZE: usize = 16;
