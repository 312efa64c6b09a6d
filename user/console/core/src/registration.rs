//! The typed items of the console's registration message: which capability is item `i`.
//!
//! The console serves `slots` clients on a set of CPUs (`cpus`, a mask). For each slot in
//! turn it sends one output portal per CPU of the set (in ascending CPU order), then the
//! input portal, then the input semaphore: `cpus.count_ones() + 2` items per slot. A
//! message has room for a bounded number of typed items, so the set may have to be
//! smaller than the CPUs the console may use: [`Layout::new`] keeps the console's main
//! CPU (where the input portals are) and the lowest others that fit. The receiver
//! rebuilds the same layout from the message's words with [`Layout::of_message`], which
//! checks them against the items that came.

/// Where each capability of a registration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    slots: usize,
    cpus: u64,
}

impl Layout {
    /// The layout for `slots` slots on the CPUs of `mask` and `main` (always served if
    /// below 64), cut to the lowest CPUs so that it has at most `max_items` items (no CPU
    /// at all if even one does not fit).
    pub fn new(slots: usize, mask: u64, main: u32, max_items: usize) -> Layout {
        let max_cpus = match slots {
            0 => 64,
            s => (max_items / s).saturating_sub(2),
        };
        let main_bit = 1u64.checked_shl(main).unwrap_or(0);
        let mut cpus = if max_cpus > 0 { main_bit } else { 0 };
        for c in 0..64 {
            if cpus.count_ones() as usize >= max_cpus {
                break;
            }
            if mask & 1 << c != 0 {
                cpus |= 1 << c;
            }
        }
        Layout { slots, cpus }
    }

    /// The layout a registration message describes (`slots` and the CPU mask from its
    /// words), if it has exactly `items` items.
    pub fn of_message(slots: u64, cpus: u64, items: usize) -> Option<Layout> {
        let l = Layout {
            slots: usize::try_from(slots).ok()?,
            cpus,
        };
        (l.slots.checked_mul(l.per_slot()) == Some(items)).then_some(l)
    }

    /// Slots served.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The CPUs with output portals (bit n: CPU n).
    pub fn cpus(&self) -> u64 {
        self.cpus
    }

    /// Those CPUs in ascending order.
    pub fn cpu_list(&self) -> impl Iterator<Item = u32> {
        let cpus = self.cpus;
        (0..64).filter(move |c| cpus & 1 << c != 0)
    }

    /// How many CPUs are served.
    pub fn cpu_count(&self) -> usize {
        self.cpus.count_ones() as usize
    }

    /// Items per slot.
    pub fn per_slot(&self) -> usize {
        self.cpu_count() + 2
    }

    /// Items in the message.
    pub fn items(&self) -> usize {
        self.slots * self.per_slot()
    }

    /// The place of `cpu` among the served CPUs.
    pub fn cpu_index(&self, cpu: u32) -> Option<usize> {
        let bit = 1u64.checked_shl(cpu)?;
        (self.cpus & bit != 0).then(|| (self.cpus & (bit - 1)).count_ones() as usize)
    }

    /// The item of `slot`'s output portal on `cpu`.
    pub fn output(&self, slot: usize, cpu: u32) -> Option<usize> {
        let i = self.cpu_index(cpu)?;
        (slot < self.slots).then(|| slot * self.per_slot() + i)
    }

    /// The item of `slot`'s input portal.
    pub fn input(&self, slot: usize) -> Option<usize> {
        (slot < self.slots).then(|| slot * self.per_slot() + self.cpu_count())
    }

    /// The item of `slot`'s input semaphore.
    pub fn semaphore(&self, slot: usize) -> Option<usize> {
        (slot < self.slots).then(|| slot * self.per_slot() + self.cpu_count() + 1)
    }
}

#[cfg(test)]
mod tests;
