//! The kernel pool's figures at one moment (`machine_ctrl`'s statistics), and the check
//! that everything a test made and took back is back: every use of the pool where it
//! was, except the frames of SC slots, which stay with SCs for good, as many as the most
//! SCs alive at once need.

use facet_abi::hypercall::machine_ctrl::{frames, objects};
use facet_rt::hypercall::{frame_stats, object_stats, pool_stats};

use facet_rt::println;

use crate::suite::{ok, Fail};

/// What each use is called in a failure message (`machine_ctrl::frames` order).
const NAMES: [&str; frames::COUNT as usize] = [
    "EC frames",
    "object slot frames",
    "SC slot frames",
    "kept object frames",
    "UTCBs",
    "vCPU blocks",
    "host page tables",
    "guest page tables",
    "device page tables",
    "capability tables",
    "PD bitmaps and pages",
    "kernel page tables",
    "per-CPU frames",
    "boot frames",
    "IOMMU tables",
    "machine state",
];

/// SC slots per frame (a frame's first slot keeps its bookkeeping).
const SCS_PER_FRAME: u64 = 31;

/// The pool's figures.
#[derive(Clone, Copy)]
pub struct Figures {
    pub free: u64,
    pub total: u64,
    pub uses: [u64; frames::COUNT as usize],
    pub live: [u64; objects::COUNT as usize],
    pub sc_peak: u64,
}

impl Figures {
    /// The figures now.
    pub fn now() -> Result<Figures, Fail> {
        let (free, total) = ok(pool_stats(), "pool statistics")?;
        let mut uses = [0; frames::COUNT as usize];
        for (item, n) in uses.iter_mut().enumerate() {
            *n = ok(frame_stats(item as u64), "frame statistics")?;
        }
        let mut live = [0; objects::COUNT as usize];
        let mut sc_peak = 0;
        for (kind, n) in live.iter_mut().enumerate() {
            let (alive, peak) = ok(object_stats(kind as u64), "object statistics")?;
            *n = alive;
            if kind as u64 == objects::SC {
                sc_peak = peak;
            }
        }
        Ok(Figures {
            free,
            total,
            uses,
            live,
            sc_peak,
        })
    }

    /// Frames in use that no use accounts for (0 unless the kernel lost track).
    pub fn unaccounted(&self) -> u64 {
        let used: u64 = (self.uses.iter().enumerate())
            .filter(|&(item, _)| item as u64 != frames::KEPT)
            .map(|(_, &n)| n)
            .sum();
        self.total.wrapping_sub(self.free).wrapping_sub(used)
    }

    /// Prints every figure that differs from `before` (for a failure's log).
    pub fn print_changes(&self, before: &Figures) {
        println!("leak: free frames {} -> {}", before.free, self.free);
        for (item, name) in NAMES.iter().enumerate() {
            let (was, now) = (before.uses[item], self.uses[item]);
            if was != now {
                println!("leak: {name} {was} -> {now}");
            }
        }
        let kinds = ["PDs", "ECs", "SCs", "portals", "semaphores"];
        for (kind, name) in kinds.iter().enumerate() {
            let (was, now) = (before.live[kind], self.live[kind]);
            if was != now {
                println!("leak: {name} alive {was} -> {now}");
            }
        }
    }

    /// Checks that `self`, taken after a test, is `before` again, but for SC slot frames,
    /// which may have grown as far as the most SCs alive at once need; prints what
    /// changed when it is not.
    pub fn back_to(&self, before: &Figures) -> Result<(), Fail> {
        self.compare(before)
            .inspect_err(|_| self.print_changes(before))
    }

    fn compare(&self, before: &Figures) -> Result<(), Fail> {
        ensure!(
            self.unaccounted() == 0,
            "{} frames of no use",
            self.unaccounted()
        );
        ensure_eq!(self.total, before.total);
        for (kind, (&now, &was)) in self.live.iter().zip(&before.live).enumerate() {
            ensure!(
                now == was,
                "objects of kind {kind}: {was} before, {now} after"
            );
        }
        let sc = frames::SC_SLOTS as usize;
        for (item, name) in NAMES.iter().enumerate() {
            let (now, was) = (self.uses[item], before.uses[item]);
            if item == sc || item as u64 == frames::KEPT {
                continue;
            }
            ensure!(now == was, "{name}: {was} frames before, {now} after");
        }
        let kept_scs = self.uses[sc] - before.uses[sc];
        let bound = self.sc_peak.div_ceil(SCS_PER_FRAME);
        ensure!(
            self.uses[sc] <= bound,
            "{} SC slot frames for at most {} SCs at once",
            self.uses[sc],
            self.sc_peak
        );
        // Kept object frames count as free.
        ensure!(
            self.free + kept_scs == before.free,
            "{} free frames before, {} after ({kept_scs} more SC slot frames)",
            before.free,
            self.free
        );
        Ok(())
    }
}
