//! `facet-rdtsc`: a 194-byte static x86-64 Linux program that prints the time-stamp
//! counter in decimal and exits, so that the guest's `/init` can report the TSC (busybox
//! has no way to read it). Under QEMU's `-icount shift=0,sleep=off` the TSC counts
//! executed instructions (plus the virtual nanoseconds skipped while every CPU idles),
//! so the first value `/init` prints is the cost of the boot up to `/init`.
//!
//! The file is one ELF header, one `PT_LOAD` program header mapping the whole file
//! read+execute at 0x400000, and this code (hand-assembled; the bytes are in [`CODE`]):
//!
//! ```text
//!         rdtsc                   ; edx:eax = TSC
//!         shl  rdx, 32
//!         or   rax, rdx
//!         mov  rsi, rsp           ; the digits go just below the stack pointer
//!         sub  rsp, 32
//!         dec  rsi
//!         mov  byte [rsi], 10     ; '\n'
//!         mov  ecx, 10
//! digit:  xor  edx, edx
//!         div  rcx                ; rax = rax / 10, rdx = digit
//!         add  dl, '0'
//!         dec  rsi
//!         mov  [rsi], dl
//!         test rax, rax
//!         jnz  digit
//!         lea  rdx, [rsp + 32]
//!         sub  rdx, rsi           ; length
//!         mov  edi, 1             ; write(1, rsi, rdx)
//!         mov  eax, 1
//!         syscall
//!         mov  eax, 60            ; exit(0)
//!         xor  edi, edi
//!         syscall
//! ```

/// Where the file is mapped.
const BASE: u64 = 0x40_0000;
const EHDR: usize = 64;
const PHDR: usize = 56;

/// The machine code above.
const CODE: [u8; 74] = [
    0x0f, 0x31, // rdtsc
    0x48, 0xc1, 0xe2, 0x20, // shl rdx, 32
    0x48, 0x09, 0xd0, // or rax, rdx
    0x48, 0x89, 0xe6, // mov rsi, rsp
    0x48, 0x83, 0xec, 0x20, // sub rsp, 32
    0x48, 0xff, 0xce, // dec rsi
    0xc6, 0x06, 0x0a, // mov byte [rsi], 10
    0xb9, 0x0a, 0x00, 0x00, 0x00, // mov ecx, 10
    0x31, 0xd2, // digit: xor edx, edx
    0x48, 0xf7, 0xf1, // div rcx
    0x80, 0xc2, 0x30, // add dl, '0'
    0x48, 0xff, 0xce, // dec rsi
    0x88, 0x16, // mov [rsi], dl
    0x48, 0x85, 0xc0, // test rax, rax
    0x75, 0xee, // jnz digit (-18)
    0x48, 0x8d, 0x54, 0x24, 0x20, // lea rdx, [rsp + 32]
    0x48, 0x29, 0xf2, // sub rdx, rsi
    0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
    0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
    0x0f, 0x05, // syscall
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x31, 0xff, // xor edi, edi
    0x0f, 0x05, // syscall
];

/// The program as an ELF executable.
pub fn rdtsc_elf() -> Vec<u8> {
    tiny_elf(&CODE)
}

/// A static x86-64 Linux executable of `code` alone: one ELF header and one `PT_LOAD`
/// program header mapping the whole file read+execute at 0x400000, the entry point at
/// the code's first byte (file offset 120).
pub fn tiny_elf(code: &[u8]) -> Vec<u8> {
    let len = (EHDR + PHDR + code.len()) as u64;
    let mut f = Vec::with_capacity(len as usize);
    // ELF header: 64-bit, little-endian, version 1, System V ABI.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86-64
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&(BASE + (EHDR + PHDR) as u64).to_le_bytes()); // e_entry
    f.extend_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&(EHDR as u16).to_le_bytes()); // e_ehsize
    f.extend_from_slice(&(PHDR as u16).to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
                                  // Program header: PT_LOAD, R+X, the whole file at BASE.
    f.extend_from_slice(&1u32.to_le_bytes()); // p_type
    f.extend_from_slice(&5u32.to_le_bytes()); // p_flags
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&len.to_le_bytes()); // p_filesz
    f.extend_from_slice(&len.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    f.extend_from_slice(code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let f = rdtsc_elf();
        assert_eq!(f.len(), 194);
        assert_eq!(&f[..4], b"\x7fELF");
        assert_eq!(u64::from_le_bytes(f[24..32].try_into().unwrap()), 0x40_0078);
        assert_eq!(&f[120..122], &[0x0f, 0x31], "rdtsc at the entry point");
        // The loop's branch lands on `xor edx, edx`.
        let jnz = CODE.iter().position(|&b| b == 0x75).unwrap();
        let target = (jnz as i64 + 2) + (CODE[jnz + 1] as i8) as i64;
        assert_eq!(&CODE[target as usize..target as usize + 2], &[0x31, 0xd2]);
    }

    /// Runs the program on the host (an x86-64 Linux machine): it prints one decimal
    /// number and exits with 0, and a second run prints a larger one.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn runs_on_the_host() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("xtask-rdtsc-{}", std::process::id()));
        std::fs::write(&path, rdtsc_elf()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = || {
            // Another test thread forking at the moment the file was written can hold
            // it open for writing for an instant (ETXTBSY): retry.
            let mut tries = 0;
            let out = loop {
                match std::process::Command::new(&path).output() {
                    Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    other => break other.unwrap(),
                }
            };
            assert!(out.status.success(), "{:?}", out.status);
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(
                text.ends_with('\n') && text.lines().count() == 1,
                "{text:?}"
            );
            text.trim().parse::<u64>().unwrap()
        };
        let (a, b) = (run(), run());
        let _ = std::fs::remove_file(&path);
        assert!(a > 0 && b > a, "{a} then {b}");
    }
}
