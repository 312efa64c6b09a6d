//! Starting the roottask: its HIP, address space, initial capabilities and registers.

pub mod hip;
pub mod loader;
