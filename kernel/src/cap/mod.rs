//! Capabilities: looking them up in the running Pd's object space, delegating object,
//! port and memory ranges between Pds, and the typed items that carry them in messages.
//!
//! The hypercalls decode their arguments and call in here (`create_*`, `revoke`,
//! `pd_ctrl`); IPC uses the same lookup for portals and the same transfer for the typed
//! items of calls and replies (`exec::typed`). The capability spaces themselves, and the
//! bridge that keeps objects' reference counts and I/O bitmaps in step with them, belong
//! to the objects that own them (`obj::spaces`).

pub mod delegation;
pub mod lookup;
pub mod xfer_item;
