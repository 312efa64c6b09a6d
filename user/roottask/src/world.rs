//! What the roottask was given at start: its CPU, the HIP, its command line.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{HipReader, MEM_MB_MODULE};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::hypercall::pd_ctrl_delegate;
use facet_rt::window::Window;

use crate::FROM_KERNEL;

/// Where the roottask maps pages it borrows from the kernel to look at them.
pub const SCRATCH: u64 = 0x1000_0000;

/// The initial state.
pub struct World {
    pub cpu: u64,
    pub hip_addr: u64,
    pub hip: HipReader<'static>,
    cmdline: [u8; 256],
    cmdline_len: usize,
}

impl World {
    pub fn new(cpu: u64, hip_addr: u64) -> World {
        let hip = facet_rt::hip::at(hip_addr);
        let mut w = World {
            cpu,
            hip_addr,
            hip,
            cmdline: [0; 256],
            cmdline_len: 0,
        };
        if let Some(m) = (0..hip.mem_count())
            .map(|i| hip.mem(i))
            .find(|m| m.mem_type == MEM_MB_MODULE)
        {
            if m.aux != 0 {
                w.read_cmdline(m.aux as u64);
            }
        }
        w
    }

    /// Maps the page(s) holding the module's command line and copies it.
    fn read_cmdline(&mut self, phys: u64) {
        let page = phys >> 12;
        for i in 0..2 {
            let crd = Crd::new(Kind::Memory, page + i, 0, perm::MEM_R);
            let window = Crd::new(Kind::Memory, (SCRATCH >> 12) + i, 0, perm::MEM_R);
            if pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window).is_err() {
                return;
            }
        }
        let at = phys & 0xfff;
        let pages = Window::new(SCRATCH, 2 * 4096);
        for n in 0..self.cmdline.len() {
            let b: u8 = pages.read(at + n as u64);
            if b == 0 {
                break;
            }
            self.cmdline[n] = b;
            self.cmdline_len = n + 1;
        }
    }

    /// The roottask's command line (the multiboot module's string).
    pub fn cmdline(&self) -> &[u8] {
        &self.cmdline[..self.cmdline_len]
    }
}
