//! A writer of cpio archives in the SVR4 "newc" format (magic `070701`), the format of
//! a Linux initramfs.
//!
//! Each entry is a 110-byte ASCII header (the magic, then 13 fields of 8 upper-case hex
//! digits: inode, mode, uid, gid, nlink, mtime, file size, dev major/minor, rdev
//! major/minor, name size including the NUL, check), the NUL-terminated name padded with
//! NULs to a multiple of 4 bytes counted from the start of the header, then the data
//! padded likewise. The archive ends with an entry named `TRAILER!!!`.
//!
//! Output is deterministic: every entry has the same mtime ([`MTIME`]), uid and gid 0,
//! and inode numbers 1, 2, 3, ... in the order the entries are added. Names are relative
//! (`bin/sh`, not `/bin/sh`), as the kernel and `cpio -i` expect; a directory must be
//! added before what it contains.

/// The modification time of every entry (2000-01-01T00:00:00Z).
pub const MTIME: u32 = 946_684_800;

pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// A cpio archive being written.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
    next_ino: u32,
    names: Vec<String>,
}

/// One header's fields, in the order they are written.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    filesize: u32,
    rdevmajor: u32,
    rdevminor: u32,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A directory (`mode` holds the permission bits).
    pub fn dir(&mut self, name: &str, mode: u32) -> Result<(), String> {
        self.entry(name, S_IFDIR | (mode & 0o7777), 2, &[], (0, 0))
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<(), String> {
        self.entry(name, S_IFREG | (mode & 0o7777), 1, data, (0, 0))
    }

    /// A symbolic link to `target` (the link's data, without a NUL).
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), String> {
        if target.is_empty() || target.contains('\0') {
            return Err(format!("cpio: bad symlink target {target:?} for {name}"));
        }
        self.entry(name, S_IFLNK | 0o777, 1, target.as_bytes(), (0, 0))
    }

    /// A character device node.
    pub fn char_device(
        &mut self,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), String> {
        self.entry(name, S_IFCHR | (mode & 0o7777), 1, &[], (major, minor))
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.raw(
            TRAILER,
            Header {
                ino: 0,
                mode: 0,
                nlink: 1,
                mtime: 0,
                filesize: 0,
                rdevmajor: 0,
                rdevminor: 0,
            },
            &[],
        );
        self.out
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        data: &[u8],
        (rdevmajor, rdevminor): (u32, u32),
    ) -> Result<(), String> {
        check_name(name)?;
        if self.names.iter().any(|n| n == name) {
            return Err(format!("cpio: {name} added twice"));
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            if !self.names.iter().any(|n| n == parent) {
                return Err(format!("cpio: {name} added before its directory {parent}"));
            }
        }
        let filesize =
            u32::try_from(data.len()).map_err(|_| format!("cpio: {name} is 4 GiB or more"))?;
        self.next_ino += 1;
        let header = Header {
            ino: self.next_ino,
            mode,
            nlink,
            mtime: MTIME,
            filesize,
            rdevmajor,
            rdevminor,
        };
        self.raw(name, header, data);
        self.names.push(name.to_string());
        Ok(())
    }

    fn raw(&mut self, name: &str, h: Header, data: &[u8]) {
        let namesize = name.len() as u32 + 1;
        let fields = [
            h.ino,
            h.mode,
            0,
            0,
            h.nlink,
            h.mtime,
            h.filesize,
            0,
            0,
            h.rdevmajor,
            h.rdevminor,
            namesize,
            0,
        ];
        let start = self.out.len();
        self.out.extend_from_slice(MAGIC);
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        debug_assert_eq!(self.out.len() - start, HEADER_LEN);
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

/// Names are relative, non-empty, NUL-free, without empty, `.` or `..` components.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.contains('\0')
        && name != TRAILER
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(format!("cpio: bad entry name {name:?}"))
    }
}

/// The length of one header plus its padded name: the data's offset within the entry.
#[cfg(test)]
fn data_offset(name_len: usize) -> usize {
    (HEADER_LEN + name_len + 1).next_multiple_of(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// A header written out by hand from the format's rules: magic, then the 13 fields.
    fn header(fields: [u32; 13]) -> Vec<u8> {
        let mut s = String::from("070701");
        for f in fields {
            s.push_str(&format!("{f:08X}"));
        }
        assert_eq!(s.len(), 110);
        s.into_bytes()
    }

    /// The exact bytes of a directory, a file of 5 bytes, a symlink and a device node:
    /// every padding spelled out.
    #[test]
    fn exact_bytes_of_a_small_archive() {
        let mut w = Writer::new();
        w.dir("dev", 0o755).unwrap();
        w.file("hello", 0o644, b"hi!\n\x00").unwrap();
        w.symlink("sh", "busybox").unwrap();
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        let got = w.finish();

        const T: u32 = 946_684_800; // 0x386D4380
        let mut want = Vec::new();
        // "dev": mode 040755, nlink 2, namesize 4; 110 + 4 = 114 -> 2 NULs to 116.
        want.extend(header([1, 0o40755, 0, 0, 2, T, 0, 0, 0, 0, 0, 4, 0]));
        want.extend(b"dev\0\0\0");
        // "hello": 0100644, size 5, namesize 6; 116 + 110 + 6 = 232 (aligned, no pad);
        // data 5 bytes -> 3 NULs.
        want.extend(header([2, 0o100644, 0, 0, 1, T, 5, 0, 0, 0, 0, 6, 0]));
        want.extend(b"hello\0");
        want.extend(b"hi!\n\x00\0\0\0");
        // "sh": 0120777, data "busybox" (7), namesize 3; 240 + 110 + 3 = 353 -> 3 NULs;
        // data 7 -> 1 NUL.
        want.extend(header([3, 0o120777, 0, 0, 1, T, 7, 0, 0, 0, 0, 3, 0]));
        want.extend(b"sh\0\0\0\0");
        want.extend(b"busybox\0");
        // "dev/console": 020600, rdev 5:1, namesize 12; 364 + 110 + 12 = 486 -> 2 NULs.
        want.extend(header([4, 0o20600, 0, 0, 1, T, 0, 0, 0, 5, 1, 12, 0]));
        want.extend(b"dev/console\0\0\0");
        // Trailer: ino 0, mode 0, nlink 1, mtime 0, namesize 11; 488 + 110 + 11 = 609
        // -> 3 NULs.
        want.extend(header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]));
        want.extend(b"TRAILER!!!\0\0\0\0");

        assert_eq!(&got[..6], b"070701");
        assert_eq!(&got[6..14], b"00000001");
        assert_eq!(&got[14..22], b"000041ED", "0o40755 in upper-case hex");
        assert_eq!(&got[46..54], b"386D4380", "mtime");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(got.len(), 612);
        assert_eq!(got, want);
    }

    /// Names of every length mod 4 and data of every length mod 4: each entry starts
    /// 4-aligned, the name's padding ends 4-aligned, and the data starts there.
    #[test]
    fn alignment_of_every_name_and_data_length() {
        for name_len in 1..=8 {
            for data_len in 0..=8 {
                let name = "n".repeat(name_len);
                let data: Vec<u8> = (1..=data_len as u8).collect();
                let mut w = Writer::new();
                w.file(&name, 0o644, &data).unwrap();
                w.file("z", 0o644, b"").unwrap();
                let got = w.finish();
                let off = data_offset(name_len);
                assert_eq!(off % 4, 0);
                assert!(off > 110 + name_len && off < 110 + name_len + 5);
                assert_eq!(&got[110..110 + name_len], name.as_bytes());
                assert!(got[110 + name_len..off].iter().all(|&b| b == 0));
                assert_eq!(&got[off..off + data_len], &data[..]);
                let next = (off + data_len).next_multiple_of(4);
                assert!(got[off + data_len..next].iter().all(|&b| b == 0));
                assert_eq!(&got[next..next + 6], b"070701", "{name_len} {data_len}");
                assert_eq!(got.len() % 4, 0);
            }
        }
    }

    #[test]
    fn bad_names_and_order_are_refused() {
        let mut w = Writer::new();
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/./b",
            "../x",
            "x/..",
            "TRAILER!!!",
            "a\0b",
        ] {
            assert!(w.file(bad, 0o644, b"").is_err(), "{bad:?}");
        }
        assert!(
            w.file("bin/sh", 0o755, b"").is_err(),
            "before its directory"
        );
        w.dir("bin", 0o755).unwrap();
        w.file("bin/sh", 0o755, b"").unwrap();
        assert!(w.symlink("bin/sh", "busybox").is_err(), "twice");
        assert!(w.symlink("bin/x", "").is_err());
    }

    #[test]
    fn deterministic() {
        let make = || {
            let mut w = Writer::new();
            w.dir("a", 0o755).unwrap();
            w.file("a/b", 0o600, b"data").unwrap();
            w.finish()
        };
        assert_eq!(make(), make());
    }

    /// Lists an archive with the system's `cpio -it` (GNU or busybox), if installed.
    #[test]
    fn round_trip_through_system_cpio() {
        let Some(cpio) = crate::paths::find_program("cpio") else {
            eprintln!("skipped: no `cpio` on PATH (apt-get install cpio)");
            return;
        };
        let mut w = Writer::new();
        w.dir("bin", 0o755).unwrap();
        w.file("bin/busybox", 0o755, &[0x7f, b'E', b'L', b'F', 1, 2, 3])
            .unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        w.dir("dev", 0o755).unwrap();
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        w.char_device("dev/ttyS0", 0o660, 4, 64).unwrap();
        w.file("init", 0o755, b"#!/bin/sh\n").unwrap();
        let archive = w.finish();
        let listing = list(&cpio, &["-it"], &archive);
        assert_eq!(
            listing.lines().collect::<Vec<_>>(),
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "dev/ttyS0",
                "init"
            ]
        );
        let verbose = list(&cpio, &["-itv"], &archive);
        let line = |name: &str| {
            verbose
                .lines()
                .find(|l| l.ends_with(name) || l.contains(&format!("{name} -> ")))
                .unwrap_or_else(|| panic!("{name} missing in\n{verbose}"))
                .to_string()
        };
        assert!(line("bin/busybox").starts_with("-rwxr-xr-x"), "{verbose}");
        assert!(line("bin/sh").starts_with("lrwxrwxrwx"), "{verbose}");
        assert!(line("bin/sh").ends_with("bin/sh -> busybox"), "{verbose}");
        assert!(line("dev/console").starts_with("crw-------"), "{verbose}");
        let tty = line("dev/ttyS0");
        assert!(tty.starts_with("crw-rw----"), "{verbose}");
        assert!(tty.contains("4,") && tty.contains("64"), "{tty}");
        assert!(line("bin").starts_with("drwxr-xr-x"), "{verbose}");
    }

    fn list(cpio: &std::path::Path, args: &[&str], archive: &[u8]) -> String {
        use std::io::Write;
        let mut child = Command::new(cpio)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cpio runs");
        child.stdin.take().unwrap().write_all(archive).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cpio {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
