//! Limits and version numbers of the interface (API 4.3).

/// Interface version reported in the HIP: major 4, minor 3.
pub const API_VERSION: u32 = 4003;
/// Largest number of CPUs the interface describes.
pub const NUM_CPU: usize = 64;
/// Number of exception event selectors per EC (the event base window).
pub const NUM_EXC: u32 = 32;
/// Number of VM-exit event selectors per vCPU.
pub const NUM_VMI: u32 = 256;
/// Number of global system interrupts the kernel manages.
pub const NUM_GSI: u32 = 192;
/// Number of scheduling priorities (0 is lowest).
pub const NUM_PRIORITIES: u32 = 128;
/// Largest number of I/O APICs described in the HIP.
pub const NUM_IOAPIC: usize = 9;
/// Number of selectors in an object space.
pub const NUM_OBJ_SELECTORS: u32 = 0x400_0000;
/// Size of a page, the unit of memory capabilities.
pub const PAGE_SIZE: usize = 4096;
/// Number of I/O ports.
pub const NUM_IO_PORTS: u32 = 0x1_0000;
