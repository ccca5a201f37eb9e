//! `VM_*` flags of a vm_struct (semantics §1.3, contract §2).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use bitflags::bitflags;

bitflags! {
    /// `vm_struct.flags` (4.x values). Unknown bits are stored as given (`from_bits_retain`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmFlags: u64 {
        /// `VM_IOREMAP`: alignment derived from the size (R4).
        const IOREMAP = 0x01;
        /// `VM_ALLOC`: vmalloc.
        const ALLOC = 0x02;
        /// `VM_MAP`: vmap.
        const MAP = 0x04;
        /// `VM_USERMAP`: may be remapped to user space.
        const USERMAP = 0x08;
        /// `VM_UNINITIALIZED`: set while a vmalloc is being built (semantics §3.1 step 5).
        const UNINITIALIZED = 0x20;
        /// `VM_NO_GUARD`: no trailing guard page (R2).
        const NO_GUARD = 0x40;
        /// `VM_KASAN` (not modelled).
        const KASAN = 0x80;
    }
}
