//! The MSI capability in a function's configuration space.

/// Capability id of MSI.
const MSI: u32 = 0x05;
/// Capabilities looked at at most (a list that loops ends there).
const MAX_CAPABILITIES: usize = 48;

/// The offset of the MSI capability, following the capability list from the pointer at
/// 0x34 with `read` (32-bit configuration reads at 4-byte-aligned offsets); `None` if the
/// function has none or the list leaves the first 256 bytes.
pub fn find(mut read: impl FnMut(u64) -> u32) -> Option<u64> {
    if read(0x04) >> 16 & 0x10 == 0 {
        // Status: no capability list.
        return None;
    }
    let mut at = (read(0x34) & 0xfc) as u64;
    for _ in 0..MAX_CAPABILITIES {
        if at < 0x40 {
            return None;
        }
        let head = read(at);
        if head & 0xff == MSI {
            return Some(at);
        }
        at = ((head >> 8) & 0xfc) as u64;
    }
    None
}

/// The configuration writes that program the capability at `cap` (whose first dword
/// reads `head`) with `address` and `data` and enable it with one message: (offset,
/// value) pairs in order, the enable last.
pub fn program(cap: u64, head: u32, address: u64, data: u32) -> [(u64, u32); 4] {
    let control = head >> 16;
    let wide = control & (1 << 7) != 0;
    let data_at = if wide { cap + 12 } else { cap + 8 };
    // Multiple message enable (bits 6:4 of control) 0: one message; MSI enable bit 0.
    let enable = (head & !(0x70 << 16)) | 1 << 16;
    [
        (cap + 4, address as u32),
        (cap + 8, if wide { (address >> 32) as u32 } else { data }),
        (data_at, data),
        (cap, enable),
    ]
}
