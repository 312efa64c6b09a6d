//! The UTCB exchange against pages in a map and a register array: message copies,
//! the plain-message test, exception state both ways (a model of which word goes where
//! for every MTD), and typed-item placement.

use std::collections::BTreeMap;
use std::vec::Vec;

use facet_abi::layout::{SEL_USER_CODE32, SEL_USER_CODE64, USER_ADDR};
use facet_abi::mtd;
use facet_abi::utcb as u;

use super::*;
use crate::testrng::Rng;

/// UTCB pages by frame address, every word recorded.
#[derive(Default)]
struct Pages(BTreeMap<u64, Vec<u64>>);

impl Pages {
    fn page(&mut self, utcb: u64, rng: &mut Rng) {
        self.0.insert(utcb, (0..512).map(|_| rng.next()).collect());
    }
}

impl UtcbMem for Pages {
    fn read(&self, utcb: u64, at: usize) -> u64 {
        assert!(
            at.is_multiple_of(8) && at < 4096,
            "read outside the page: {at}"
        );
        self.0[&utcb][at / 8]
    }
    fn write(&mut self, utcb: u64, at: usize, v: u64) {
        assert!(
            at.is_multiple_of(8) && at < 4096,
            "write outside the page: {at}"
        );
        self.0.get_mut(&utcb).unwrap()[at / 8] = v;
    }
}

/// A frame: the 20 registers by [`Reg`] number.
#[derive(Clone, Debug, PartialEq)]
struct Regs([u64; 20]);

impl RegFile for Regs {
    fn reg(&mut self, r: Reg) -> &mut u64 {
        &mut self.0[r as usize]
    }
}

fn random_regs(rng: &mut Rng) -> Regs {
    let mut r = Regs([0; 20]);
    for v in &mut r.0 {
        *v = rng.next();
    }
    r
}

#[test]
fn copy_message_moves_the_counted_words_and_bounds_the_count() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..500 {
        let mut m = Pages::default();
        m.page(0x1000, &mut rng);
        m.page(0x2000, &mut rng);
        let untyped = match rng.below(4) {
            0 => rng.below(0x1_0000),
            1 => WORDS as u64 + rng.below(3),
            _ => rng.below(WORDS as u64 + 1),
        };
        let typed = if rng.below(2) == 0 {
            0
        } else {
            rng.below(0x1_0000)
        };
        let items = (rng.next() & !0xffff_ffff) | typed << 16 | untyped;
        m.write(0x1000, u::ITEMS, items);
        let (src, before) = (m.0[&0x1000].clone(), m.0[&0x2000].clone());

        let has_typed = copy_message(&mut m, 0x1000, 0x2000);

        let n = (untyped as usize).min(WORDS);
        assert_eq!(has_typed, typed != 0);
        assert_eq!(m.0[&0x1000], src, "the source is not changed");
        let dst = &m.0[&0x2000];
        assert_eq!(dst[0], items & !0xffff | n as u64);
        assert_eq!(dst[1..4], before[1..4], "the header stays the receiver's");
        assert_eq!(dst[4..4 + n], src[4..4 + n]);
        assert_eq!(dst[4 + n..], before[4 + n..]);
    }
}

#[test]
fn copy_message_without_a_utcb_does_nothing() {
    let mut rng = Rng(7);
    let mut m = Pages::default();
    m.page(0x1000, &mut rng);
    let page = m.0[&0x1000].clone();
    assert!(!copy_message(&mut m, 0, 0x1000));
    assert!(!copy_message(&mut m, 0x1000, 0));
    assert_eq!(m.0[&0x1000], page);
}

#[test]
fn plain_items_are_untyped_words_that_fit() {
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..10_000 {
        let items = match rng.below(3) {
            0 => rng.next(),
            1 => rng.next() & !0xffff_0000 & !0xffff | rng.below(WORDS as u64 + 2),
            _ => rng.below(WORDS as u64 + 2),
        };
        let plain = (items >> 16) & 0xffff == 0 && (items & 0xffff) as usize <= WORDS;
        assert_eq!(plain_items(items), plain.then_some(items), "{items:#x}");
    }
    assert_eq!(plain_items(WORDS as u64), Some(WORDS as u64));
    assert_eq!(plain_items(WORDS as u64 + 1), None);
    assert_eq!(plain_items(1 << 16), None);
}

/// Every MTD bit an exception message knows, and some it does not.
fn random_mtd(rng: &mut Rng) -> u64 {
    rng.next() & 0xffff_ffff
}

/// The UTCB word each register is written to, with its MTD bit.
fn model_slots() -> Vec<(usize, Reg, u32)> {
    let mut v: Vec<_> = GPRS.to_vec();
    v.push((u::RSP, Reg::Rsp, mtd::RSP));
    v.push((u::RIP, Reg::Rip, mtd::RIP_LEN));
    v.push((u::RFLAGS, Reg::Rflags, mtd::RFLAGS));
    v.push((u::QUAL, Reg::Error, mtd::QUAL));
    v
}

#[test]
fn load_exception_writes_what_the_mtd_selects_and_nothing_else() {
    let mut rng = Rng(0x5eed_0003);
    for _ in 0..2_000 {
        let mut m = Pages::default();
        m.page(0x3000, &mut rng);
        let before = m.0[&0x3000].clone();
        let mut regs = random_regs(&mut rng);
        let saved = regs.clone();
        let (bits, cr2) = (random_mtd(&mut rng), rng.next());

        load_exception(&mut m, 0x3000, &mut regs, bits, cr2);

        assert_eq!(regs, saved, "loading changes no register");
        let mut want = before.clone();
        for (at, r, bit) in model_slots() {
            if bits as u32 & bit != 0 {
                want[at / 8] = saved.0[r as usize];
            }
        }
        if bits as u32 & mtd::QUAL != 0 {
            want[u::QUAL / 8 + 1] = cr2;
        }
        want[u::MTD / 8] = bits;
        want[u::ITEMS / 8] = u::STATE_WORDS;
        assert_eq!(m.0[&0x3000], want, "mtd {bits:#x}");
    }
}

#[test]
fn save_exception_applies_what_the_mtd_selects_with_checked_pointers() {
    let mut rng = Rng(0x5eed_0004);
    for _ in 0..2_000 {
        let mut m = Pages::default();
        m.page(0x4000, &mut rng);
        let bits = random_mtd(&mut rng);
        m.write(0x4000, u::MTD, bits);
        // Pointers in and out of user space, 32-bit and 64-bit code.
        for (at, far) in [(u::RSP, rng.below(2) == 0), (u::RIP, rng.below(2) == 0)] {
            let v = if far {
                USER_ADDR + rng.below(1 << 40)
            } else {
                rng.below(USER_ADDR)
            };
            m.write(0x4000, at, v);
        }
        let mut regs = random_regs(&mut rng);
        *regs.reg(Reg::Cs) = [SEL_USER_CODE64, SEL_USER_CODE32][rng.below(2) as usize] as u64;
        let before = regs.clone();
        let page = m.0[&0x4000].clone();

        save_exception(&m, 0x4000, &mut regs);

        assert_eq!(m.0[&0x4000], page, "saving changes no UTCB word");
        let mut want = before.clone();
        let sel = bits as u32;
        for (at, r, bit) in GPRS {
            if sel & bit != 0 {
                want.0[r as usize] = page[at / 8];
            }
        }
        let (rsp, rip) = (page[u::RSP / 8], page[u::RIP / 8]);
        if sel & mtd::RSP != 0 && rsp < USER_ADDR {
            want.0[Reg::Rsp as usize] = rsp;
        }
        let cs = before.0[Reg::Cs as usize];
        let rip_ok = if cs == SEL_USER_CODE32 as u64 {
            rip <= u32::MAX as u64
        } else {
            rip < USER_ADDR
        };
        if sel & mtd::RIP_LEN != 0 && rip_ok {
            want.0[Reg::Rip as usize] = rip;
        }
        if sel & mtd::RFLAGS != 0 {
            want.0[Reg::Rflags as usize] = user_rflags(page[u::RFLAGS / 8]);
        }
        assert_eq!(regs, want, "mtd {bits:#x}");
    }
}

#[test]
fn exception_state_goes_there_and_back() {
    let mut rng = Rng(0x5eed_0005);
    for _ in 0..1_000 {
        let mut m = Pages::default();
        m.page(0x5000, &mut rng);
        let mut regs = random_regs(&mut rng);
        *regs.reg(Reg::Cs) = SEL_USER_CODE64 as u64;
        *regs.reg(Reg::Rsp) = rng.below(USER_ADDR);
        *regs.reg(Reg::Rip) = rng.below(USER_ADDR);
        *regs.reg(Reg::Rflags) = user_rflags(rng.next());
        let orig = regs.clone();
        load_exception(&mut m, 0x5000, &mut regs, random_mtd(&mut rng), 0);
        let mut back = random_regs(&mut rng);
        *back.reg(Reg::Cs) = SEL_USER_CODE64 as u64;
        let mut fresh = back.clone();
        save_exception(&m, 0x5000, &mut back);
        // What the MTD selected comes back; the rest is the receiving frame's.
        let sel = m.read(0x5000, u::MTD) as u32;
        for (_, r, bit) in model_slots() {
            if r != Reg::Error && sel & bit != 0 {
                *fresh.reg(r) = orig.0[r as usize];
            }
        }
        assert_eq!(back, fresh);
    }
}

#[test]
fn user_rflags_keep_no_privileged_bit() {
    let mut rng = Rng(0x5eed_0006);
    for _ in 0..10_000 {
        let f = user_rflags(rng.next());
        assert_eq!(f & (3 << 12), 0, "IOPL");
        assert_eq!(f & ((1 << 16) | (1 << 17) | (1 << 19) | (1 << 20)), 0);
        assert_eq!(f >> 22, 0);
        assert_eq!(f & (1 << 9 | 2), 1 << 9 | 2, "IF and bit 1");
    }
    assert_eq!(user_rflags(0), 0x202);
    assert_eq!(user_rflags(u64::MAX), 0x3f_ffff & !(0x1b_3000));
}

#[test]
fn typed_items_sit_at_the_end_of_the_page_growing_down() {
    let mut rng = Rng(0x5eed_0007);
    let mut m = Pages::default();
    m.page(0x6000, &mut rng);
    assert_eq!(typed_item_at(0), 4096 - 16);
    assert_eq!(typed_item_at(WORDS / 2 - 1), u::DATA + 8 * (WORDS % 2));
    for i in 0..WORDS / 2 {
        set_typed_item(&mut m, 0x6000, i, i as u64, !(i as u64));
    }
    for i in 0..WORDS / 2 {
        assert_eq!(typed_item(&m, 0x6000, i), (i as u64, !(i as u64)));
    }
    m.write(0x6000, u::ITEMS, 0xffff_0000);
    assert_eq!(typed_count(&m, 0x6000), WORDS / 2);
    m.write(0x6000, u::ITEMS, 3 << 16 | 0xffff);
    assert_eq!(typed_count(&m, 0x6000), 3);
    assert_eq!(typed_count(&m, 0), 0);
    m.write(0x6000, u::XLT, 0x11);
    m.write(0x6000, u::DEL, 0x22);
    assert_eq!(translate_window(&m, 0x6000), 0x11);
    assert_eq!(delegate_window(&m, 0x6000), 0x22);
    assert_eq!((translate_window(&m, 0), delegate_window(&m, 0)), (0, 0));
}

#[test]
fn the_register_table_is_the_abi_layout() {
    // Each general register once, at its own 8-byte word of the state area.
    let mut at: Vec<usize> = GPRS.iter().map(|g| g.0).collect();
    at.push(u::RSP);
    at.sort();
    assert_eq!(at, (0..16).map(|i| u::RAX + 8 * i).collect::<Vec<_>>());
    let regs: Vec<Reg> = GPRS.iter().map(|g| g.1).collect();
    for (i, r) in regs.iter().enumerate() {
        assert!(!regs[..i].contains(r));
    }
}
