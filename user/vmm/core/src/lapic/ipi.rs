//! Inter-processor interrupts as the x2APIC's 64-bit ICR describes them: what to deliver
//! and to whom. The local APIC only decodes the command; the VMM delivers it to every
//! vCPU whose APIC [`IpiRequest::targets`] names (including the sender's own).
//!
//! x2APIC destinations are 32 bits: a physical destination is an x2APIC ID; a logical
//! one is a cluster (bits 31:16) and a bitmap of up to 16 members (bits 15:0), matched
//! against each APIC's logical ID ([`logical_id`]); 0xffff_ffff is the broadcast in
//! both.

/// What an IPI delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiKind {
    /// A fixed interrupt with `vector` (16-255) to every target.
    Fixed {
        vector: u8,
        level_triggered: bool,
    },
    /// A fixed interrupt to one of the targets (any one will do).
    LowestPriority {
        vector: u8,
        level_triggered: bool,
    },
    Smi,
    Nmi,
    /// INIT (assert): the target resets and waits for a start-up IPI.
    Init,
    /// Start-up: a target waiting after INIT begins in real mode at `vector * 0x1000`.
    StartUp {
        vector: u8,
    },
}

/// Who receives an IPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiDestination {
    /// The APIC with this x2APIC ID (0xffff_ffff: every APIC).
    Physical(u32),
    /// The APICs of this cluster and member bitmap (0xffff_ffff: every APIC).
    Logical(u32),
    /// Shorthand "self".
    OnlySelf,
    /// Shorthand "all including self".
    AllIncludingSelf,
    /// Shorthand "all excluding self".
    AllExcludingSelf,
}

/// An IPI the guest sent through the ICR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpiRequest {
    pub kind: IpiKind,
    pub destination: IpiDestination,
}

/// The broadcast destination, physical or logical.
const BROADCAST: u32 = 0xffff_ffff;

const DELIVERY_FIXED: u64 = 0;
const DELIVERY_LOWEST_PRIORITY: u64 = 1;
const DELIVERY_SMI: u64 = 2;
const DELIVERY_NMI: u64 = 4;
const DELIVERY_INIT: u64 = 5;
const DELIVERY_START_UP: u64 = 6;
const ICR_LOGICAL: u64 = 1 << 11;
const ICR_ASSERT: u64 = 1 << 14;
const ICR_LEVEL_TRIGGERED: u64 = 1 << 15;

/// The x2APIC logical ID of the APIC with x2APIC ID `apic_id`: cluster `id >> 4`, member
/// bit `id & 15` (what the LDR reads).
pub fn logical_id(apic_id: u32) -> u32 {
    (apic_id >> 4) << 16 | 1 << (apic_id & 0xf)
}

impl IpiRequest {
    /// Decodes an ICR value. `None` for what sends nothing: the reserved delivery modes
    /// (3 and ExtINT) and INIT level de-assert, which current processors ignore.
    pub(super) fn decode(icr: u64) -> Option<IpiRequest> {
        let vector = icr as u8;
        let level_triggered = icr & ICR_LEVEL_TRIGGERED != 0;
        let kind = match (icr >> 8) & 7 {
            DELIVERY_FIXED => IpiKind::Fixed {
                vector,
                level_triggered,
            },
            DELIVERY_LOWEST_PRIORITY => IpiKind::LowestPriority {
                vector,
                level_triggered,
            },
            DELIVERY_SMI => IpiKind::Smi,
            DELIVERY_NMI => IpiKind::Nmi,
            DELIVERY_INIT if level_triggered && icr & ICR_ASSERT == 0 => return None,
            DELIVERY_INIT => IpiKind::Init,
            DELIVERY_START_UP => IpiKind::StartUp { vector },
            _ => return None,
        };
        let destination = match (icr >> 18) & 3 {
            1 => IpiDestination::OnlySelf,
            2 => IpiDestination::AllIncludingSelf,
            3 => IpiDestination::AllExcludingSelf,
            _ if icr & ICR_LOGICAL != 0 => IpiDestination::Logical((icr >> 32) as u32),
            _ => IpiDestination::Physical((icr >> 32) as u32),
        };
        Some(IpiRequest { kind, destination })
    }

    /// Whether the APIC with x2APIC ID `target_id` receives this IPI sent by the APIC
    /// with x2APIC ID `sender_id`.
    pub fn targets(&self, sender_id: u32, target_id: u32) -> bool {
        match self.destination {
            IpiDestination::Physical(id) => id == BROADCAST || id == target_id,
            IpiDestination::Logical(BROADCAST) => true,
            IpiDestination::Logical(destination) => {
                let target = logical_id(target_id);
                destination >> 16 == target >> 16 && destination & target & 0xffff != 0
            }
            IpiDestination::OnlySelf => target_id == sender_id,
            IpiDestination::AllIncludingSelf => true,
            IpiDestination::AllExcludingSelf => target_id != sender_id,
        }
    }

    /// The vector of a fixed or lowest-priority IPI.
    pub fn fixed_vector(&self) -> Option<u8> {
        match self.kind {
            IpiKind::Fixed { vector, .. } | IpiKind::LowestPriority { vector, .. } => Some(vector),
            _ => None,
        }
    }
}
