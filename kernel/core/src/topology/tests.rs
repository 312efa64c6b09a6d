use super::*;

#[test]
fn the_boot_cpu_comes_first_and_the_rest_are_counted() {
    let mut out = [0u32; 64];
    // 65 CPUs, the boot CPU listed third.
    let ids = (0..65u32).map(|i| 100 + i);
    assert_eq!(pick_cpus(ids.clone(), 102, &mut out), (64, 1));
    assert_eq!(out[0], 102);
    assert_eq!(&out[1..3], &[100, 101]);
    assert_eq!(out[63], 100 + 63);
    // Exactly 64: nothing dropped.
    assert_eq!(pick_cpus(ids.clone().take(64), 100, &mut out), (64, 0));
    // The boot CPU not listed at all: it still runs, 63 others fit.
    assert_eq!(pick_cpus(ids.clone(), 7, &mut out), (64, 2));
    assert_eq!(out[0], 7);
    // Nothing listed, no room.
    assert_eq!(pick_cpus(core::iter::empty(), 5, &mut out), (1, 0));
    assert_eq!(pick_cpus(ids, 100, &mut []), (0, 64));
}

#[test]
fn one_core_per_package_numbers_packages() {
    for id in 0..4 {
        assert_eq!(
            place(id, 1, 1),
            Place {
                thread: 0,
                core: 0,
                package: id
            }
        );
    }
}

#[test]
fn cores_and_threads_split_the_id() {
    // 2 packages of 4 cores with 2 threads: ids 0..15; 0b1111 is package 1, core 3,
    // thread 1.
    assert_eq!(
        place(0b1111, 8, 4),
        Place {
            thread: 1,
            core: 3,
            package: 1
        }
    );
    // 6 cores, no SMT: three core bits; 0b1101 is package 1, core 5.
    assert_eq!(
        place(0b1101, 6, 6),
        Place {
            thread: 0,
            core: 5,
            package: 1
        }
    );
}

#[test]
fn nonsense_counts_do_not_panic() {
    for id in [0, 1, 0xff, u32::MAX] {
        for (a, b) in [
            (0, 0),
            (1, 8),
            (255, 0),
            (u32::MAX, u32::MAX),
            (0, u32::MAX),
        ] {
            let _ = place(id, a, b);
        }
    }
}
