//! The binary interface between the Facet kernel and user programs.
//!
//! Facet speaks the interface of the Hedron microhypervisor at API version 4.3, so every
//! number and layout here is fixed by that interface. The kernel and the user runtime both
//! import these definitions; nothing else in the repository spells an interface constant.

#![no_std]
#![forbid(unsafe_code)]

pub mod args;
pub mod config;
pub mod crd;
pub mod hip;
pub mod hypercall;
pub mod layout;
pub mod mtd;
pub mod perm;
pub mod status;
pub mod utcb;
