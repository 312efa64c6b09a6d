use std::collections::BTreeSet;
use std::vec::Vec;

use super::*;

#[test]
fn items_go_slot_by_slot_outputs_then_input_then_semaphore() {
    let l = Layout::new(8, 0b1011, 0, 252);
    assert_eq!(l.cpus(), 0b1011);
    assert_eq!(l.cpu_list().collect::<Vec<_>>(), [0, 1, 3]);
    assert_eq!(l.per_slot(), 5);
    assert_eq!(l.items(), 40);
    assert_eq!(l.output(0, 0), Some(0));
    assert_eq!(l.output(0, 1), Some(1));
    assert_eq!(l.output(0, 3), Some(2));
    assert_eq!(l.output(0, 2), None);
    assert_eq!(l.input(0), Some(3));
    assert_eq!(l.semaphore(0), Some(4));
    assert_eq!(l.output(1, 0), Some(5));
    assert_eq!(l.semaphore(7), Some(39));
    assert_eq!(
        (l.output(8, 0), l.input(8), l.semaphore(8)),
        (None, None, None)
    );
    assert_eq!(l.output(0, 64), None);
    assert_eq!(l.cpu_index(200), None);
}

#[test]
fn every_item_is_named_once() {
    for mask in [1u64, 0b1111, 0xf0f1, u64::MAX] {
        let l = Layout::new(8, mask, 0, 252);
        let mut seen = BTreeSet::new();
        for s in 0..8 {
            for c in l.cpu_list() {
                assert!(seen.insert(l.output(s, c).unwrap()));
            }
            assert!(seen.insert(l.input(s).unwrap()));
            assert!(seen.insert(l.semaphore(s).unwrap()));
        }
        assert_eq!(seen.len(), l.items());
        assert_eq!(seen.iter().next_back(), Some(&(l.items() - 1)));
        assert!(l.items() <= 252);
    }
}

#[test]
fn too_many_cpus_are_cut_to_what_fits_keeping_the_main_one() {
    let l = Layout::new(8, u64::MAX, 0, 252);
    assert_eq!(l.cpu_count(), 29);
    assert_eq!(l.cpus(), (1 << 29) - 1);
    let l = Layout::new(8, u64::MAX, 40, 252);
    assert_eq!(l.cpu_count(), 29);
    assert!(l.cpu_index(40).is_some());
    assert_eq!(l.cpu_index(28), None);
    // The main CPU is served even if the mask forgot it.
    assert_eq!(Layout::new(8, 0b100, 0, 252).cpus(), 0b101);
    // Nothing fits: no CPU, and no output items.
    let l = Layout::new(8, 0b11, 0, 16);
    assert_eq!((l.cpus(), l.items()), (0, 16));
    assert_eq!(Layout::new(8, 0b11, 70, 252).cpus(), 0b11);
}

#[test]
fn the_receiver_checks_the_message_against_its_items() {
    let sent = Layout::new(8, 0b1111, 0, 252);
    assert_eq!(Layout::of_message(8, 0b1111, 48), Some(sent));
    assert_eq!(Layout::of_message(8, 0b1111, 47), None);
    assert_eq!(Layout::of_message(9, 0b1111, 48), None);
    assert_eq!(Layout::of_message(u64::MAX, u64::MAX, 252), None);
    assert_eq!(
        Layout::of_message(0, u64::MAX, 0).map(|l| l.items()),
        Some(0)
    );
}
