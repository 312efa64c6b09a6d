//! Permission bits of capabilities, five bits per capability (CRD bits 6:2).

/// Memory: read.
pub const MEM_R: u8 = 1 << 0;
/// Memory: write.
pub const MEM_W: u8 = 1 << 1;
/// Memory: execute.
pub const MEM_X: u8 = 1 << 2;
/// All memory permissions.
pub const MEM_ALL: u8 = MEM_R | MEM_W | MEM_X;

/// Port I/O: access.
pub const PIO_A: u8 = 1 << 0;
/// Port I/O: the rights of the kernel's ports. A port capability taken from the kernel
/// keeps the rights asked for within these three bits (as the reference's do); only
/// [`PIO_A`] opens the port.
pub const PIO_KERNEL: u8 = 0b111;

/// PD: create PDs (bit 0), ECs (1), SCs (2), portals (3), semaphores (4).
pub const PD_PD: u8 = 1 << 0;
/// PD: create ECs.
pub const PD_EC: u8 = 1 << 1;
/// PD: create SCs.
pub const PD_SC: u8 = 1 << 2;
/// PD: create portals.
pub const PD_PT: u8 = 1 << 3;
/// PD: create semaphores.
pub const PD_SM: u8 = 1 << 4;

/// EC: control (recall).
pub const EC_CT: u8 = 1 << 0;
/// EC: bind an SC.
pub const EC_SC: u8 = 1 << 2;
/// EC: bind a portal.
pub const EC_PT: u8 = 1 << 3;
/// EC: the rights a new EC's capability has (the reference's: the three defined).
pub const EC_ALL: u8 = EC_CT | EC_SC | EC_PT;

/// SC: control (query consumed time).
pub const SC_CT: u8 = 1 << 0;
/// SC: the rights a new SC's capability has.
pub const SC_ALL: u8 = SC_CT;

/// Portal: control (set the portal id).
pub const PT_CT: u8 = 1 << 0;
/// Portal: call.
pub const PT_CALL: u8 = 1 << 1;
/// Portal: the rights a new portal's capability has.
pub const PT_ALL: u8 = PT_CT | PT_CALL;

/// Semaphore: up.
pub const SM_UP: u8 = 1 << 0;
/// Semaphore: down.
pub const SM_DOWN: u8 = 1 << 1;
/// Semaphore: the rights a new semaphore's capability has (interrupt semaphores too).
pub const SM_ALL: u8 = SM_UP | SM_DOWN;

/// Every permission bit.
pub const ALL: u8 = 0x1f;
