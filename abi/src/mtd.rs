//! Message transfer descriptor bits: which parts of an architectural state an exception
//! or VM-exit message carries.

/// RAX, RCX, RDX, RBX.
pub const GPR_ACDB: u32 = 1 << 0;
/// RBP, RSI, RDI.
pub const GPR_BSD: u32 = 1 << 1;
/// RSP.
pub const RSP: u32 = 1 << 2;
/// RIP and instruction length.
pub const RIP_LEN: u32 = 1 << 3;
/// RFLAGS.
pub const RFLAGS: u32 = 1 << 4;
/// DS and ES.
pub const DS_ES: u32 = 1 << 5;
/// FS and GS.
pub const FS_GS: u32 = 1 << 6;
/// CS and SS.
pub const CS_SS: u32 = 1 << 7;
/// TR.
pub const TR: u32 = 1 << 8;
/// LDTR.
pub const LDTR: u32 = 1 << 9;
/// GDTR.
pub const GDTR: u32 = 1 << 10;
/// IDTR.
pub const IDTR: u32 = 1 << 11;
/// Control registers.
pub const CR: u32 = 1 << 12;
/// Debug registers.
pub const DR: u32 = 1 << 13;
/// SYSENTER MSRs.
pub const SYSENTER: u32 = 1 << 14;
/// Exit qualification.
pub const QUAL: u32 = 1 << 15;
/// Execution controls.
pub const CTRL: u32 = 1 << 16;
/// Event injection.
pub const INJ: u32 = 1 << 17;
/// Interruptibility and activity state.
pub const STA: u32 = 1 << 18;
/// TSC value and offset.
pub const TSC: u32 = 1 << 19;
/// EFER and PAT.
pub const EFER_PAT: u32 = 1 << 20;
/// PDPTEs.
pub const PDPTE: u32 = 1 << 21;
/// R8 to R15.
pub const GPR_R8_R15: u32 = 1 << 22;
/// STAR, LSTAR, FMASK, KERNEL_GS_BASE.
pub const SYSCALL_SWAPGS: u32 = 1 << 23;
/// TSC timeout.
pub const TSC_TIMEOUT: u32 = 1 << 24;
/// Virtual interrupt status.
pub const VINTR: u32 = 1 << 26;
/// EOI exit bitmap.
pub const EOI: u32 = 1 << 27;
/// TPR threshold.
pub const TPR: u32 = 1 << 28;
/// TLB flush request.
pub const TLB: u32 = 1 << 30;
/// FPU state.
pub const FPU: u32 = 1 << 31;
