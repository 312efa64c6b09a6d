//! Host tests: multiboot1 and multiboot2 information built byte by byte in simulated
//! physical memory, hostile variants of each, and randomized never-panic runs.

mod errors;
mod multiboot1;
mod multiboot2;
mod random;

use super::multiboot1::{MB1_FLAG_CMDLINE, MB1_FLAG_MEMINFO, MB1_FLAG_MMAP, MB1_FLAG_MODS};
use super::multiboot2::{
    RSDP_V1_LEN, RSDP_V2_LEN, TAG_ACPI_NEW, TAG_ACPI_OLD, TAG_CMDLINE, TAG_EFI32, TAG_EFI64,
    TAG_END, TAG_MEMINFO, TAG_MMAP, TAG_MODULE,
};
use super::*;
use crate::phys::fake::Ram;
use std::format;
use std::string::ToString;
use std::vec::Vec;

/// Simulated RAM: [RAM_BASE, RAM_BASE + RAM_SIZE).
const RAM_BASE: u64 = 0x10000;
const RAM_SIZE: usize = 0x20000;
const INFO: u64 = 0x10000;
const MMAP: u64 = 0x11000;
const MODS: u64 = 0x12000;
const STRINGS: u64 = 0x13000;

fn ram() -> Ram {
    Ram::new(RAM_BASE, RAM_SIZE)
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

// ---- multiboot1 builders ----

/// A multiboot1 info structure under construction: fields are written into `ram`.
struct Mb1 {
    ram: Ram,
    flags: u32,
}

impl Mb1 {
    fn new() -> Self {
        Mb1 {
            ram: ram(),
            flags: 0,
        }
    }
    fn field(&mut self, off: u64, v: u32) {
        self.ram.put(INFO + off, &le32(v));
    }
    fn meminfo(&mut self, lower: u32, upper: u32) -> &mut Self {
        self.flags |= MB1_FLAG_MEMINFO;
        self.field(4, lower);
        self.field(8, upper);
        self
    }
    fn cmdline(&mut self, addr: u64, s: &[u8]) -> &mut Self {
        self.flags |= MB1_FLAG_CMDLINE;
        self.ram.put(addr, s);
        self.ram.put(addr + s.len() as u64, &[0]);
        self.field(16, addr as u32);
        self
    }
    /// Module list at MODS: (start, end, string address).
    fn modules(&mut self, mods: &[(u32, u32, u32)]) -> &mut Self {
        self.flags |= MB1_FLAG_MODS;
        for (i, &(s, e, c)) in mods.iter().enumerate() {
            let a = MODS + 16 * i as u64;
            self.ram.put(a, &le32(s));
            self.ram.put(a + 4, &le32(e));
            self.ram.put(a + 8, &le32(c));
            self.ram.put(a + 12, &le32(0));
        }
        self.field(20, mods.len() as u32);
        self.field(24, MODS as u32);
        self
    }
    /// Memory map at MMAP from raw entry bytes; `mmap_length` is their total length.
    fn mmap_raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.flags |= MB1_FLAG_MMAP;
        self.ram.put(MMAP, bytes);
        self.field(44, bytes.len() as u32);
        self.field(48, MMAP as u32);
        self
    }
    fn mmap(&mut self, entries: &[(u64, u64, u32)]) -> &mut Self {
        let mut b = Vec::new();
        for &(base, len, kind) in entries {
            mb1_entry(&mut b, 20, base, len, kind);
        }
        self.mmap_raw(&b)
    }
    fn parse(&mut self) -> Result<BootInfo, BootError> {
        self.field(0, self.flags);
        parse(MB1_MAGIC, INFO, &self.ram)
    }
}

/// Appends a multiboot1 map entry whose `size` field is `size` (padding with zeros).
fn mb1_entry(b: &mut Vec<u8>, size: u32, base: u64, len: u64, kind: u32) {
    b.extend_from_slice(&le32(size));
    let mut body = Vec::new();
    body.extend_from_slice(&base.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(&le32(kind));
    body.resize(size as usize, 0);
    b.extend_from_slice(&body);
}

// ---- multiboot2 builder ----

/// A multiboot2 info structure built as bytes, then placed at `INFO`.
struct Mb2 {
    bytes: Vec<u8>,
}

impl Mb2 {
    fn new() -> Self {
        Mb2 {
            bytes: std::vec![0; 8],
        }
    }
    /// Appends a tag of type `ty` whose size field is `8 + payload.len()`.
    fn tag(&mut self, ty: u32, payload: &[u8]) -> &mut Self {
        self.tag_sized(ty, 8 + payload.len() as u32, payload)
    }
    /// Appends a tag with an explicit size field (for hostile cases), padded to 8.
    fn tag_sized(&mut self, ty: u32, size: u32, payload: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(&le32(ty));
        self.bytes.extend_from_slice(&le32(size));
        self.bytes.extend_from_slice(payload);
        while !self.bytes.len().is_multiple_of(8) {
            self.bytes.push(0);
        }
        self
    }
    /// Offset the next tag will have; its physical address is INFO + this.
    fn next(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn cmdline(&mut self, s: &[u8]) -> &mut Self {
        let mut p = s.to_vec();
        p.push(0);
        self.tag(TAG_CMDLINE, &p)
    }
    fn module(&mut self, start: u32, end: u32, s: &[u8]) -> &mut Self {
        let mut p = Vec::new();
        p.extend_from_slice(&le32(start));
        p.extend_from_slice(&le32(end));
        p.extend_from_slice(s);
        p.push(0);
        self.tag(TAG_MODULE, &p)
    }
    fn meminfo(&mut self, lower: u32, upper: u32) -> &mut Self {
        let mut p = Vec::new();
        p.extend_from_slice(&le32(lower));
        p.extend_from_slice(&le32(upper));
        self.tag(TAG_MEMINFO, &p)
    }
    fn mmap_sized(&mut self, entry_size: u32, entries: &[(u64, u64, u32)]) -> &mut Self {
        let mut p = Vec::new();
        p.extend_from_slice(&le32(entry_size));
        p.extend_from_slice(&le32(0));
        for &(base, len, kind) in entries {
            let mut e = Vec::new();
            e.extend_from_slice(&base.to_le_bytes());
            e.extend_from_slice(&len.to_le_bytes());
            e.extend_from_slice(&le32(kind));
            e.resize(entry_size as usize, 0);
            p.extend_from_slice(&e);
        }
        self.tag(TAG_MMAP, &p)
    }
    fn mmap(&mut self, entries: &[(u64, u64, u32)]) -> &mut Self {
        self.mmap_sized(24, entries)
    }
    fn rsdp(&mut self, new: bool) -> &mut Self {
        let len = if new { RSDP_V2_LEN } else { RSDP_V1_LEN };
        let mut p = b"RSD PTR ".to_vec();
        p.resize(len as usize, if new { 2 } else { 0 });
        self.tag(if new { TAG_ACPI_NEW } else { TAG_ACPI_OLD }, &p)
    }
    /// Appends the end tag and sets total_size.
    fn end(&mut self) -> &mut Self {
        self.tag(TAG_END, &[]);
        self.set_total(self.bytes.len() as u32)
    }
    fn set_total(&mut self, total: u32) -> &mut Self {
        self.bytes[..4].copy_from_slice(&le32(total));
        self
    }
    fn parse_at(&self, addr: u64) -> Result<BootInfo, BootError> {
        let mut r = ram();
        r.put(addr, &self.bytes);
        parse(MB2_MAGIC, addr, &r)
    }
    fn parse(&self) -> Result<BootInfo, BootError> {
        self.parse_at(INFO)
    }
}

fn usable_map() -> [(u64, u64, u32); 3] {
    [
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0x100000, 0x7ee0000, 1),
    ]
}

fn regions(entries: &[(u64, u64, u32)]) -> Vec<MemRegion> {
    entries
        .iter()
        .map(|&(addr, len, kind)| MemRegion { addr, len, kind })
        .collect()
}
