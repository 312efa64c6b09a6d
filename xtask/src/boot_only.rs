//! The check that keeps the kernel's boot-only code boot-only.
//!
//! The kernel unmaps `[__init_start, __init_end)` and gives its frames to the pool before
//! the roottask runs (`mem::release_boot_only`), so resident code must never reach into
//! it: a call, jump or address taken there would fault, or run whatever object the pool
//! put there since. The range holds the kernel's `.init.text` functions and the
//! `facet_kcore` functions `kernel/link.ld` names by their symbols, so a new caller of
//! one of those, after the boot, breaks the rule silently. After every build the
//! disassembly of the resident code (`objdump -d`) is searched for any address inside
//! the range, and the kernel's writable data for a word that points there.

use std::path::Path;
use std::process::Command;

/// The range of boot-only code, from `nm` output.
fn init_range(nm: &str) -> Option<(u64, u64)> {
    let sym = |name: &str| {
        nm.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            let (a, _, n) = (w.next()?, w.next()?, w.next()?);
            (n == name).then(|| u64::from_str_radix(a, 16).ok())?
        })
    };
    Some((sym("__init_start")?, sym("__init_end")?))
}

/// Resident instructions (outside `[start, end)`) of `objdump -d` output that name an
/// address inside it, as `address: instruction` lines. The start itself is also
/// `__text_start`, which resident code may compare with: only a call or jump to it counts.
fn references(disassembly: &str, (start, end): (u64, u64)) -> Vec<String> {
    disassembly
        .lines()
        .filter_map(|l| {
            let (addr, insn) = l.trim_start().split_once(":\t")?;
            let at = u64::from_str_radix(addr, 16).ok()?;
            if at >= start && at < end {
                return None;
            }
            let branch = insn.starts_with("call") || insn.starts_with('j');
            let inside = |a: u64| a > start && a < end || a == start && branch;
            insn.split(|c: char| !c.is_ascii_hexdigit())
                .filter(|w| w.len() == 16)
                .filter_map(|w| u64::from_str_radix(w, 16).ok())
                .any(inside)
                .then(|| format!("{addr}: {}", insn.trim()))
        })
        .collect()
}

/// Words of `data` (the kernel's writable data) that point into `[start, end)`.
fn pointers(data: &[u8], (start, end): (u64, u64)) -> usize {
    data.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .filter(|&v| v >= start && v < end)
        .count()
}

/// Fails if resident code or writable data of `kernel` (the ELF64 image) refers to its
/// boot-only code.
pub fn check(kernel: &Path) -> Result<(), String> {
    let tool = |cmd: &mut Command, what: &str| -> Result<Vec<u8>, String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{what} failed"));
        }
        Ok(out.stdout)
    };
    let nm = tool(Command::new("nm").arg(kernel), "nm")?;
    let Some(range) = init_range(&String::from_utf8_lossy(&nm)) else {
        return Ok(());
    };
    let dis = tool(
        Command::new("objdump")
            .args(["-d", "--no-show-raw-insn", "-j", ".text"])
            .arg(kernel),
        "objdump -d",
    )?;
    let refs = references(&String::from_utf8_lossy(&dis), range);
    let data_file = kernel.with_extension("data.bin");
    tool(
        Command::new("objcopy")
            .args(["-O", "binary", "--only-section=.data"])
            .arg(kernel)
            .arg(&data_file),
        "objcopy --only-section=.data",
    )?;
    let data = std::fs::read(&data_file).unwrap_or_default();
    let _ = std::fs::remove_file(&data_file);
    let ptrs = pointers(&data, range);
    if refs.is_empty() && ptrs == 0 {
        return Ok(());
    }
    Err(format!(
        "resident kernel code refers to boot-only code [{:#x}, {:#x}), which is gone after \
         the boot (move the callee out of .init.text or out of kernel/link.ld's list):\n  {}{}",
        range.0,
        range.1,
        refs.join("\n  "),
        if ptrs > 0 {
            format!("\n  and {ptrs} word(s) of .data point there")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: (u64, u64) = (0xffff_ffff_8020_8000, 0xffff_ffff_8020_a000);

    #[test]
    fn the_range_comes_from_the_symbols() {
        let nm = "ffffffff80208000 T __init_start\nffffffff8020a000 T __init_end\n";
        assert_eq!(init_range(nm), Some(RANGE));
        assert_eq!(init_range("ffffffff80208000 T __init_start\n"), None);
    }

    #[test]
    fn resident_calls_and_addresses_into_the_range_are_found() {
        let dis = "\
ffffffff80208010:\tcall   ffffffff80208100 <_ZN5facet4boot>\n\
ffffffff8020b000:\tcall   ffffffff80208100 <_ZN5facet4boot>\n\
ffffffff8020b005:\tlea    -0x7fdf7f00(%rip),%rax        # ffffffff80208100 <x>\n\
ffffffff8020b00c:\tcall   ffffffff8020c000 <_ZN5facet4resident>\n\
ffffffff8020b011:\tjmp    *-0x7fdc0ee0(,%rax,8)\n\
ffffffff8020b018:\tcmp    $0xffffffff80208000,%rax\n\
ffffffff8020b01e:\tjmp    ffffffff80208000 <_ZN5facet5first>\n";
        let refs = references(dis, RANGE);
        assert_eq!(refs.len(), 3, "{refs:?}");
        assert!(refs[2].starts_with("ffffffff8020b01e"));
        assert!(refs[0].starts_with("ffffffff8020b000"));
        assert!(refs[1].starts_with("ffffffff8020b005"));
    }

    #[test]
    fn data_words_pointing_into_the_range_are_counted() {
        let mut data = Vec::new();
        data.extend(0xffff_ffff_8020_8100u64.to_le_bytes());
        data.extend(0xffff_ffff_8020_c000u64.to_le_bytes());
        data.extend([0u8; 4]);
        assert_eq!(pointers(&data, RANGE), 1);
    }
}
