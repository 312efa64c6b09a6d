//! Kernel objects.
//!
//! So far only the roottask's protection domain exists; its object space holds the
//! three capabilities the reference gives a roottask (PD, EC, SC at selectors 32..34).
//! The general object space, the other object types and the mapping database come with
//! the capability model.

pub mod pd;
