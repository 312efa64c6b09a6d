//! The multiboot modules the roottask was given besides itself: programs to start
//! (ELF images) and data they use (a guest's kernel and initial RAM disk), each named by
//! the first word of its command line.
//!
//! A module's command line is `[path] name [arguments…]`: QEMU's `-initrd` puts the
//! file's path first, GRUB does not, so a first word with a `/` in it is skipped. The
//! names, arguments and places are copied at start, before any memory is handed out
//! (the bootloader's strings lie in memory the roottask may give away).

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{HipReader, MEM_MB_MODULE};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::hypercall::pd_ctrl_delegate;

use crate::FROM_KERNEL;

/// Modules at most (the roottask's own included).
pub const MAX_MODULES: usize = 16;
/// Bytes of a module's arguments kept.
pub const MAX_ARGS: usize = 512;

/// Where the roottask looks at a command line's pages.
pub const SCRATCH: u64 = 0x3f00_0000;

/// One module.
#[derive(Clone, Copy)]
pub struct Module {
    pub phys: u64,
    pub size: u64,
    name: [u8; 16],
    name_len: usize,
    args: [u8; MAX_ARGS],
    args_len: usize,
}

impl Module {
    /// The module's name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("")
    }

    /// Its arguments (the command line after the name).
    pub fn args(&self) -> &str {
        core::str::from_utf8(&self.args[..self.args_len]).unwrap_or("")
    }

    /// The value of argument `key=` (the first one), if given.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args()
            .split(' ')
            .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Its bytes, through the roottask's window on physical memory.
    pub fn bytes(&self) -> &'static [u8] {
        // SAFETY: every module is mapped read-only in the window (`super::phys`) for
        // the roottask's whole life, and nobody writes it.
        unsafe {
            core::slice::from_raw_parts(
                super::phys::virt(self.phys) as *const u8,
                self.size as usize,
            )
        }
    }
}

/// The modules but the roottask's own (the first).
pub struct Modules {
    list: [Option<Module>; MAX_MODULES],
}

impl Modules {
    /// Reads every module's place and command line from the HIP.
    pub fn read(hip: &HipReader) -> Modules {
        let mut list = [None; MAX_MODULES];
        let mut n = 0;
        let mut first = true;
        for i in 0..hip.mem_count() {
            let m = hip.mem(i);
            if m.mem_type != MEM_MB_MODULE {
                continue;
            }
            if core::mem::take(&mut first) {
                continue;
            }
            if n == MAX_MODULES {
                break;
            }
            let mut line = [0u8; MAX_ARGS + 64];
            let len = if m.aux != 0 {
                read_cstr(m.aux as u64, &mut line)
            } else {
                0
            };
            list[n] = Some(parse(m.addr, m.size, &line[..len]));
            n += 1;
        }
        Modules { list }
    }

    /// Every module, in the order the bootloader listed them.
    pub fn iter(&self) -> impl Iterator<Item = &Module> {
        self.list.iter().flatten()
    }

    /// The module called `name`.
    pub fn find(&self, name: &str) -> Option<&Module> {
        self.iter().find(|m| m.name() == name)
    }
}

/// A module at `phys` of `size` bytes with command line `line`.
fn parse(phys: u64, size: u64, line: &[u8]) -> Module {
    let mut words = line
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .peekable();
    if words.peek().is_some_and(|w| w.contains(&b'/')) {
        words.next();
    }
    let mut m = Module {
        phys,
        size,
        name: [0; 16],
        name_len: 0,
        args: [0; MAX_ARGS],
        args_len: 0,
    };
    if let Some(name) = words.next() {
        let n = name.len().min(16);
        m.name[..n].copy_from_slice(&name[..n]);
        m.name_len = n;
    }
    for w in words {
        let need = w.len() + usize::from(m.args_len != 0);
        if m.args_len + need > MAX_ARGS {
            break;
        }
        if m.args_len != 0 {
            m.args[m.args_len] = b' ';
            m.args_len += 1;
        }
        m.args[m.args_len..m.args_len + w.len()].copy_from_slice(w);
        m.args_len += w.len();
    }
    m
}

/// Copies the NUL-terminated string at physical `phys` (mapped from the kernel for the
/// purpose) into `out`; its length.
fn read_cstr(phys: u64, out: &mut [u8]) -> usize {
    let page = phys >> 12;
    for i in 0..2 {
        let crd = Crd::new(Kind::Memory, page + i, 0, perm::MEM_R);
        let window = Crd::new(Kind::Memory, (SCRATCH >> 12) + i, 0, perm::MEM_R);
        if pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window).is_err() {
            return 0;
        }
    }
    let at = SCRATCH + (phys & 0xfff);
    let room = out.len().min(0x2000 - (phys & 0xfff) as usize);
    for (n, slot) in out.iter_mut().enumerate().take(room) {
        // SAFETY: the two pages at SCRATCH were just mapped readable and `n` stays in
        // them.
        let b = unsafe { core::ptr::read_volatile((at + n as u64) as *const u8) };
        if b == 0 || b == b'\n' {
            return n;
        }
        *slot = b;
    }
    room
}
