//! Hypercall status codes, returned in OUT1 bits 7:0.

/// The outcome of a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The operation completed.
    Success = 0,
    /// A blocking operation timed out.
    Timeout = 1,
    /// The operation was aborted (for example, the partner went away).
    Abort = 2,
    /// The hypercall number is not known.
    BadHyp = 3,
    /// A capability selector named no capability of the right type and permission.
    BadCap = 4,
    /// A parameter was out of range or malformed.
    BadPar = 5,
    /// The requested feature is not available.
    BadFtr = 6,
    /// A CPU number was out of range or the CPU is not the caller's.
    BadCpu = 7,
    /// A device named by the caller does not exist.
    BadDev = 8,
}

impl Status {
    /// Decodes the status from OUT1 (only bits 7:0 count).
    pub fn from_out1(value: u64) -> Option<Status> {
        Some(match value as u8 {
            0 => Status::Success,
            1 => Status::Timeout,
            2 => Status::Abort,
            3 => Status::BadHyp,
            4 => Status::BadCap,
            5 => Status::BadPar,
            6 => Status::BadFtr,
            7 => Status::BadCpu,
            8 => Status::BadDev,
            _ => return None,
        })
    }

    /// The short name used in test output.
    pub fn name(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Timeout => "TIMEOUT",
            Status::Abort => "ABORT",
            Status::BadHyp => "BAD_HYP",
            Status::BadCap => "BAD_CAP",
            Status::BadPar => "BAD_PAR",
            Status::BadFtr => "BAD_FTR",
            Status::BadCpu => "BAD_CPU",
            Status::BadDev => "BAD_DEV",
        }
    }
}

#[cfg(test)]
mod tests;
