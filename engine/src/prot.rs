//! Page protections as the 4.x API passes them (semantics §8.3, contract §2).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

/// A protection value the 4.x API uses (`PAGE_KERNEL*`). Arbitrary bits are never passed
/// (design §3.15), so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prot {
    /// `PAGE_KERNEL`: raw `0x8000000000000163`.
    Kernel,
    /// `PAGE_KERNEL_EXEC`: raw `0x163`.
    KernelExec,
    /// `PAGE_KERNEL_RO`: raw `0x8000000000000161`.
    KernelRo,
    /// `PAGE_KERNEL_RX`: raw `0x161`.
    KernelRx,
    /// `PAGE_KERNEL_NOCACHE`: raw `0x800000000000017b`.
    KernelNocache,
}

impl Prot {
    /// Every value, in declaration order.
    pub const ALL: [Prot; 5] = [
        Prot::Kernel,
        Prot::KernelExec,
        Prot::KernelRo,
        Prot::KernelRx,
        Prot::KernelNocache,
    ];

    /// The raw `__PAGE_KERNEL*` definition, before any boot-time mask (semantics §8.3).
    pub const fn raw(self) -> u64 {
        match self {
            Prot::Kernel => 0x8000_0000_0000_0163,
            Prot::KernelExec => 0x163,
            Prot::KernelRo => 0x8000_0000_0000_0161,
            Prot::KernelRx => 0x161,
            Prot::KernelNocache => 0x8000_0000_0000_017b,
        }
    }

    /// The evaluated macro value a caller passes:
    /// `(raw | sme_c_bit) & default_kernel_pte_mask` (semantics §8.3 step 1).
    pub const fn value(self, sme_c_bit: u64, default_kernel_pte_mask: u64) -> u64 {
        (self.raw() | sme_c_bit) & default_kernel_pte_mask
    }
}
