use super::*;
use std::vec;
use std::vec::Vec;

#[test]
fn hands_out_each_tag_once_and_never_zero() {
    let mut s = TagSet::new(5);
    let got: Vec<u32> = (0..5).map(|_| s.alloc().unwrap()).collect();
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
    assert_eq!(s.alloc(), None);
}

#[test]
fn freed_tags_come_back_after_the_others() {
    let mut s = TagSet::new(4);
    for _ in 0..3 {
        s.alloc();
    }
    s.free(1);
    assert_eq!(s.alloc(), Some(4));
    assert_eq!(s.alloc(), Some(1));
    assert_eq!(s.alloc(), None);
}

#[test]
fn bad_frees_and_empty_ranges_are_harmless() {
    let mut s = TagSet::new(0);
    assert_eq!(s.alloc(), None);
    s.free(0);
    s.free(u32::MAX);
    let mut s = TagSet::new(u32::MAX);
    assert_eq!(s.alloc(), Some(1));
    s.set_max(1);
    assert_eq!(s.alloc(), None);
}

#[test]
fn random_use_never_shares_a_tag() {
    let mut rng = crate::testrng::Rng(7);
    let mut s = TagSet::new(100);
    let mut live: Vec<u32> = Vec::new();
    for _ in 0..10_000 {
        if rng.below(3) == 0 && !live.is_empty() {
            let i = rng.below(live.len() as u64) as usize;
            s.free(live.swap_remove(i));
        } else if let Some(t) = s.alloc() {
            assert!((1..=100).contains(&t));
            assert!(!live.contains(&t), "tag {t} handed out twice");
            live.push(t);
        } else {
            assert_eq!(live.len(), 100);
        }
    }
}
