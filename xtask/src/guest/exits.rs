//! `facet-exits`: a 146-byte static x86-64 Linux program for `cargo xtask bench` that
//! runs 1,000 CPUIDs and then 1,000 one-byte reads of port 0x80 between TSC readings and
//! prints each span in decimal on a line of its own. Under a VMM each of these
//! instructions exits to it (CPUID always; port 0x80 is a port of no device) and
//! resumes after it; under QEMU's `-icount shift=0,sleep=off` the TSC counts executed
//! instructions, so span / 1,000 is the instructions from one guest instruction to the
//! next across an exit, and the same program booted without a VMM gives the loop's own
//! cost. `iopl(3)` lets it read the port from user mode (the guest's `/init` runs as
//! root).
//!
//! Hand-assembled (the bytes are in [`CODE`]):
//!
//! ```text
//!         mov  eax, 172           ; iopl(3)
//!         mov  edi, 3
//!         syscall
//!         xor  r14d, r14d         ; pass 0: CPUID, pass 1: IN
//! pass:   mov  r12d, 1000
//!         rdtsc
//!         shl  rdx, 32
//!         or   rax, rdx
//!         mov  r13, rax           ; the start
//!         test r14d, r14d
//!         jnz  io
//! cpuid:  xor  eax, eax
//!         cpuid
//!         dec  r12d
//!         jnz  cpuid
//!         jmp  done
//! io:     in   al, 0x80
//!         dec  r12d
//!         jnz  io
//! done:   rdtsc
//!         shl  rdx, 32
//!         or   rax, rdx
//!         sub  rax, r13           ; the span
//!         (print rax in decimal and a newline, as `facet-rdtsc` does)
//!         add  rsp, 32
//!         inc  r14d
//!         cmp  r14d, 2
//!         jne  pass
//!         mov  eax, 60            ; exit(0)
//!         xor  edi, edi
//!         syscall
//! ```

/// Iterations of each loop.
pub const ITERATIONS: u64 = 1000;

/// The machine code above.
const CODE: [u8; 146] = [
    0xb8, 0xac, 0x00, 0x00, 0x00, // mov eax, 172
    0xbf, 0x03, 0x00, 0x00, 0x00, // mov edi, 3
    0x0f, 0x05, // syscall
    0x45, 0x31, 0xf6, // xor r14d, r14d
    0x41, 0xbc, 0xe8, 0x03, 0x00, 0x00, // pass: mov r12d, 1000
    0x0f, 0x31, // rdtsc
    0x48, 0xc1, 0xe2, 0x20, // shl rdx, 32
    0x48, 0x09, 0xd0, // or rax, rdx
    0x49, 0x89, 0xc5, // mov r13, rax
    0x45, 0x85, 0xf6, // test r14d, r14d
    0x75, 0x0b, // jnz io (+11)
    0x31, 0xc0, // cpuid: xor eax, eax
    0x0f, 0xa2, // cpuid
    0x41, 0xff, 0xcc, // dec r12d
    0x75, 0xf7, // jnz cpuid (-9)
    0xeb, 0x07, // jmp done (+7)
    0xe4, 0x80, // io: in al, 0x80
    0x41, 0xff, 0xcc, // dec r12d
    0x75, 0xf9, // jnz io (-7)
    0x0f, 0x31, // done: rdtsc
    0x48, 0xc1, 0xe2, 0x20, // shl rdx, 32
    0x48, 0x09, 0xd0, // or rax, rdx
    0x4c, 0x29, 0xe8, // sub rax, r13
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
    0x48, 0x83, 0xc4, 0x20, // add rsp, 32
    0x41, 0xff, 0xc6, // inc r14d
    0x41, 0x83, 0xfe, 0x02, // cmp r14d, 2
    0x75, 0x86, // jne pass (-122)
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x31, 0xff, // xor edi, edi
    0x0f, 0x05, // syscall
];

/// The program as an ELF executable.
pub fn exits_elf() -> Vec<u8> {
    super::tsc::tiny_elf(&CODE)
}

/// The two spans `facet-exits` printed (`cpuid`, `port`), from its output lines.
pub fn parse_spans(a: &str, b: &str) -> Option<(u64, u64)> {
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the branch at `at` (a two-byte `jcc`/`jmp rel8`) lands.
    fn target(at: usize) -> usize {
        (at as i64 + 2 + CODE[at + 1] as i8 as i64) as usize
    }

    #[test]
    fn branches_land_where_the_listing_says() {
        let find = |bytes: &[u8]| CODE.windows(bytes.len()).position(|w| w == bytes).unwrap();
        let pass = find(&[0x41, 0xbc]);
        let cpuid = find(&[0x31, 0xc0, 0x0f, 0xa2]);
        let io = find(&[0xe4, 0x80]);
        let done = find(&[0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0x4c]);
        let digit = find(&[0x31, 0xd2, 0x48, 0xf7]);
        assert_eq!(target(find(&[0x75, 0x0b])), io);
        assert_eq!(target(cpuid + 7), cpuid);
        assert_eq!(target(cpuid + 9), done);
        assert_eq!(target(io + 5), io);
        assert_eq!(target(find(&[0x75, 0xee])), digit);
        assert_eq!(target(find(&[0x75, 0x86])), pass);
        assert_eq!(u16::from_le_bytes([CODE[pass + 2], CODE[pass + 3]]), 1000);
        assert_eq!(ITERATIONS, 1000);
    }

    #[test]
    fn an_elf_of_the_code() {
        let f = exits_elf();
        assert_eq!(f.len(), 120 + CODE.len());
        assert_eq!(
            &f[120..125],
            &[0xb8, 0xac, 0, 0, 0],
            "iopl at the entry point"
        );
    }

    #[test]
    fn spans_parse() {
        assert_eq!(parse_spans("12000\n", " 9000"), Some((12000, 9000)));
        assert_eq!(parse_spans("x", "1"), None);
    }
}
