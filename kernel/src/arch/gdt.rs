//! Global descriptor table, task-state segment and the per-CPU block.
//!
//! The selectors are the reference's: kernel code 0x08, kernel data 0x10, user code
//! (32-bit) 0x1b, user data 0x23, user code (64-bit) 0x2b, TSS 0x30. The TSS carries the
//! kernel stack for entries from user mode, an interrupt stack for double faults, NMIs
//! and machine checks, and the I/O permission bitmap of the running protection domain.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;

use super::msr;
use super::regs::Frame;
use super::stacks::CpuStacks;

pub const SEL_KERNEL_CODE: u16 = 0x08;
pub const SEL_KERNEL_DATA: u16 = 0x10;
pub const SEL_TSS: u16 = 0x30;

/// Hardware task-state segment (64-bit).
#[repr(C, packed)]
pub struct Tss {
    reserved0: u32,
    pub rsp0: u64,
    rsp1: u64,
    rsp2: u64,
    reserved1: u64,
    pub ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    pub iomap_base: u16,
}

/// The TSS followed by its I/O permission bitmap (one bit per port, set = denied) and
/// the terminating all-ones byte the CPU may read past the last port.
#[repr(C, align(4096))]
pub struct TssBlock {
    pub tss: Tss,
    pub iomap: [u8; 8192],
    terminator: u8,
}

/// Per-CPU data reached through GS while in the kernel. The syscall entry stub relies on
/// the offsets of `kernel_rsp` (8), `user_rsp` (16), `frame_top` (32) and `frame` (40).
#[repr(C)]
pub struct PerCpu {
    pub self_ptr: u64,
    pub kernel_rsp: u64,
    pub user_rsp: u64,
    pub cpu_id: u64,
    /// The end of the running Ec's register frame (see `exec::current`).
    pub frame_top: u64,
    /// Its start (where the exit path pops from).
    pub frame: u64,
    /// The running Ec (0: none), its Pd, that Pd's object-space root and whether the Ec
    /// is a vCPU: read on every hypercall, kept here so each is one load (see
    /// `super::percpu`).
    pub current_ec: u64,
    pub current_pd: u64,
    pub obj_root: u64,
    pub is_vcpu: u64,
    /// The CPU number plus one: this CPU's mark in the big kernel lock.
    pub lock_mark: u64,
    /// Whether this CPU's bit is set in the shootdown mask of CPUs that may hold user
    /// translations (`smp::shootdown`; only this CPU changes it).
    pub caching: u64,
    /// The Pd whose I/O bitmap this CPU's TSS holds (0: none; `arch::ports`). Other
    /// CPUs read and change it through `percpu::ports_owner_of`, holding the kernel lock.
    pub ports_owner: u64,
    /// A scratch word for the #NP/#SS/#GP entry while it moves from its interrupt stack
    /// to the kernel stack (`entry::interrupt`).
    pub entry_scratch: u64,
    /// Not 0: the scheduler looks at the running Sc before this CPU leaves the kernel
    /// (`exec::sched::check`; only this CPU reads and writes it).
    pub hazard: u64,
}

const _: () = assert!(core::mem::offset_of!(PerCpu, frame_top) == 32);
const _: () = assert!(core::mem::offset_of!(PerCpu, frame) == 40);

/// Where an idle CPU's frame pointer points (`exec::current`): nothing resumes it.
struct IdleFrame(UnsafeCell<Frame>);

// SAFETY: each CPU only ever touches its own idle frame.
unsafe impl Sync for IdleFrame {}

static IDLE: [IdleFrame; NUM_CPU] = [const { IdleFrame(UnsafeCell::new(Frame::ZERO)) }; NUM_CPU];

/// The top of CPU `cpu`'s idle frame (for its per-CPU block before any Ec runs).
pub fn idle_top(cpu: u64) -> u64 {
    IDLE[cpu as usize % NUM_CPU].0.get() as u64 + size_of::<Frame>() as u64
}

/// Everything one CPU needs for its descriptor tables.
#[repr(C, align(4096))]
pub struct CpuTables {
    pub tss: TssBlock,
    pub gdt: [u64; 8],
    pub percpu: PerCpu,
}

impl CpuTables {
    /// Tables with every port denied.
    pub const fn new() -> Self {
        CpuTables {
            tss: TssBlock {
                tss: Tss {
                    reserved0: 0,
                    rsp0: 0,
                    rsp1: 0,
                    rsp2: 0,
                    reserved1: 0,
                    ist: [0; 7],
                    reserved2: 0,
                    reserved3: 0,
                    iomap_base: size_of::<Tss>() as u16,
                },
                iomap: [0xff; 8192],
                terminator: 0xff,
            },
            gdt: [
                0,
                0x00af_9a00_0000_ffff, // kernel code, 64-bit
                0x00cf_9200_0000_ffff, // kernel data
                0x00cf_fa00_0000_ffff, // user code, 32-bit
                0x00cf_f200_0000_ffff, // user data
                0x00af_fa00_0000_ffff, // user code, 64-bit
                0,
                0,
            ],
            percpu: PerCpu {
                self_ptr: 0,
                caching: 0,
                kernel_rsp: 0,
                user_rsp: 0,
                cpu_id: 0,
                frame_top: 0,
                frame: 0,
                current_ec: 0,
                current_pd: 0,
                obj_root: 0,
                is_vcpu: 0,
                lock_mark: 0,
                ports_owner: 0,
                entry_scratch: 0,
                hazard: 0,
            },
        }
    }

    /// Loads the GDT, TSS and GS base on the executing CPU.
    ///
    /// # Safety
    /// 1. `self` must stay at this address for as long as the CPU runs (it is static).
    /// 2. The stacks must be mapped, writable and this CPU's alone; each interrupt
    ///    stack's top page-aligned (see `super::stacks`).
    pub unsafe fn load(&'static mut self, cpu_id: u64, stacks: CpuStacks) {
        let kernel_stack_top = stacks.kernel;
        let mut ist = [0u64; 7];
        for (slot, top) in ist.iter_mut().zip(stacks.ist) {
            *slot = top - super::stacks::IST_RESERVED;
            // SAFETY: the word below the top belongs to the interrupt stack (point 2);
            // the entry paths read the per-CPU block's address from it.
            unsafe { ((top - 8) as *mut u64).write(&self.percpu as *const PerCpu as u64) };
        }
        self.tss.tss.ist = ist;
        self.tss.tss.rsp0 = kernel_stack_top;
        let base = &self.tss as *const TssBlock as u64;
        let limit = (size_of::<TssBlock>() - 1).min(size_of::<Tss>() + 8192) as u64;
        self.gdt[6] = (limit & 0xffff)
            | (base & 0xff_ffff) << 16
            | 0x89 << 40 // present, 64-bit TSS (available)
            | ((limit >> 16) & 0xf) << 48
            | ((base >> 24) & 0xff) << 56;
        self.gdt[7] = base >> 32;
        self.percpu.self_ptr = &self.percpu as *const PerCpu as u64;
        if let Some(slot) = TABLES.get(cpu_id as usize) {
            slot.store(self as *mut CpuTables as u64, Ordering::Release);
        }
        self.percpu.kernel_rsp = kernel_stack_top;
        self.percpu.cpu_id = cpu_id;
        self.percpu.lock_mark = cpu_id + 1;
        self.percpu.frame_top = idle_top(cpu_id);
        self.percpu.frame = self.percpu.frame_top - size_of::<Frame>() as u64;
        // SAFETY: the GDT has the same kernel code and data descriptors as the boot GDT
        // and its TSS descriptor points at a static TSS (point 1).
        unsafe {
            self.install();
            msr::write(msr::IA32_KERNEL_GS_BASE, 0);
        }
    }

    /// Loads this GDT, the segment registers, the task register and the GS base.
    ///
    /// # Safety
    /// 1. The GDT must have the boot GDT's kernel code and data descriptors (so that
    ///    reloading the segment registers keeps the CPU running where it is) and an
    ///    available TSS descriptor for a TSS that stays.
    /// 2. These must be the executing CPU's tables.
    unsafe fn install(&self) {
        let gdtr = DescriptorPointer {
            limit: (size_of::<[u64; 8]>() - 1) as u16,
            base: self.gdt.as_ptr() as u64,
        };
        // SAFETY: points 1 and 2.
        unsafe {
            asm!(
                "lgdt [{gdtr}]",
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov ss, {ds:x}",
                "mov ds, {ds:x}",
                "mov es, {ds:x}",
                "ltr {tss:x}",
                gdtr = in(reg) &gdtr,
                cs = in(reg) SEL_KERNEL_CODE as u64,
                ds = in(reg) SEL_KERNEL_DATA as u64,
                tss = in(reg) SEL_TSS as u64,
                tmp = out(reg) _,
            );
            msr::write(msr::IA32_GS_BASE, self.percpu.self_ptr);
        }
    }
}

impl CpuTables {
    /// Loads the tables again on the CPU they belong to, after a resume from S3 reset it:
    /// the GDT (its TSS descriptor marked available again: LTR refuses a busy one), the
    /// task register and the GS base. The per-CPU block and the stacks stay as they are.
    ///
    /// # Safety
    /// 1. `self` must be the executing CPU's tables, loaded with [`CpuTables::load`]
    ///    before the suspend.
    pub unsafe fn reload(&'static mut self) {
        self.gdt[6] &= !(1 << 41);
        // SAFETY: the same descriptors `load` installed (point 1), the TSS descriptor
        // available again.
        unsafe { self.install() };
    }
}

/// Each CPU's tables, by CPU number (registered by [`CpuTables::load`]).
static TABLES: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// CPU `cpu`'s tables, once it has loaded them.
pub fn tables(cpu: u32) -> Option<*mut CpuTables> {
    let t = TABLES.get(cpu as usize)?.load(Ordering::Acquire);
    (t != 0).then_some(t as *mut CpuTables)
}

/// Operand of LGDT and LIDT.
#[repr(C, packed)]
pub struct DescriptorPointer {
    pub limit: u16,
    pub base: u64,
}

/// The bootstrap CPU's tables. Other CPUs get theirs with SMP support.
pub static mut BSP_TABLES: CpuTables = CpuTables::new();
