//! The boot path: multiboot headers and the 32-bit entry (`entry`); boot information is
//! parsed by `facet_kcore::bootinfo`. The way back from S3 (`resume`).

mod entry;
pub mod resume;
