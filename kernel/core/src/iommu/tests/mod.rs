//! Host tests of the VT-d encodings, the device map and the unit's page walk. Expected
//! values are spelled as raw numbers from the specification's bit layouts (and, for the
//! interrupt entries, the reference kernel's formulas), so that a wrong constant cannot
//! hide behind itself.

mod devices;
mod regs;
mod tables;
mod walk;
