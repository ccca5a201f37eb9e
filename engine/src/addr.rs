//! Address newtypes and the page arithmetic of semantics §0.
//!
//! Kernel pointers are raw values: `vfree` of a wild pointer must give warning 5, not a panic,
//! so the API accepts any `u64` as a [`VirtAddr`] ([`VirtAddr::from_u64`]). Canonical form is
//! checked only where it matters, by [`VirtAddr::try_new`]. There is deliberately no panicking
//! constructor (design §3.16: no panic may be used as control flow under a fuzzer).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use core::fmt;

use crate::config::Paging;

/// `PAGE_SHIFT` on x86-64 (semantics §0).
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE` on x86-64 (semantics §0).
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Number of 8-byte entries in one table page (semantics §8.1).
pub const ENTRIES_PER_TABLE: usize = 512;
/// PFNs below this are firmware and kernel image: never handed out (semantics §12.2).
pub const FIRST_POOL_PFN: u64 = 256;
/// Upper bound on PFNs (contract §1: a node span may not end above `1 << 40`).
pub const MAX_PFN: u64 = 1 << 40;

/// `PAGE_ALIGN(x)` modulo 2^64 (semantics §0): every `x` above `2^64 - 4096` wraps to exactly 0.
pub const fn page_align(x: u64) -> u64 {
    x.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// `ALIGN(x, align)` without wrap-around (semantics §4.3, R4): `None` when the result would pass
/// 2^64. `align` must be a power of two.
pub const fn checked_align_up(x: u64, align: u64) -> Option<u64> {
    let mask = align.wrapping_sub(1);
    match x.checked_add(mask) {
        Some(v) => Some(v & !mask),
        None => None,
    }
}

/// `get_count_order_long(x)`: ceil(log2(x)) for `x > 0` (semantics §3.2 step 2, R4).
pub const fn count_order(x: u64) -> u32 {
    if x <= 1 {
        0
    } else {
        64 - (x - 1).leading_zeros()
    }
}

/// `fls(x)`: the 1-based index of the highest set bit, 0 for 0 (semantics §5.4 `lazy_max_pages`).
pub const fn fls(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Why an address or frame number was refused by a checked constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// The virtual address is not canonical for the paging mode (semantics §8.1).
    NonCanonical(u64),
    /// The physical address or PFN does not fit the 52-bit physical address space (semantics §8.1).
    TooWide(u64),
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::NonCanonical(v) => write!(f, "virtual address {v:#x} is not canonical"),
            AddrError::TooWide(v) => write!(f, "{v:#x} does not fit the physical address space"),
        }
    }
}

impl std::error::Error for AddrError {}

/// A kernel virtual address. Any 64-bit value can be represented (kernel pointers are raw);
/// [`VirtAddr::try_new`] additionally checks canonical form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(u64);

impl VirtAddr {
    /// NULL.
    pub const NULL: VirtAddr = VirtAddr(0);

    /// Wraps a raw value without any check (a pointer as the kernel sees it).
    pub const fn from_u64(v: u64) -> Self {
        VirtAddr(v)
    }

    /// Checks canonical form: bits 63..47 equal (4-level) or bits 63..56 equal (LA57),
    /// semantics §8.1.
    pub const fn try_new(v: u64, paging: Paging) -> Result<Self, AddrError> {
        let t = Self::new_truncate(v, paging);
        if t.0 == v {
            Ok(t)
        } else {
            Err(AddrError::NonCanonical(v))
        }
    }

    /// Explicit truncation: sign-extends from the top implemented bit (47 or 56).
    pub const fn new_truncate(v: u64, paging: Paging) -> Self {
        let shift = 64 - paging.va_bits();
        VirtAddr((((v << shift) as i64) >> shift) as u64)
    }

    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// True for NULL.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// True if page aligned.
    pub const fn is_page_aligned(self) -> bool {
        self.0 & (PAGE_SIZE - 1) == 0
    }
}

impl From<u64> for VirtAddr {
    fn from(v: u64) -> Self {
        VirtAddr(v)
    }
}

impl From<VirtAddr> for u64 {
    fn from(v: VirtAddr) -> Self {
        v.0
    }
}

impl PartialEq<u64> for VirtAddr {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#018x})", self.0)
    }
}

impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// Mask of the 52-bit physical address space (semantics §8.1, `__PHYSICAL_MASK_SHIFT` = 52
/// from 4.17).
pub const PHYS_ADDR_MASK: u64 = (1 << 52) - 1;

/// A physical address in the simulated machine (52 bits at most).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(u64);

impl PhysAddr {
    /// Checks that the value fits 52 bits.
    pub const fn try_new(v: u64) -> Result<Self, AddrError> {
        if v & !PHYS_ADDR_MASK == 0 {
            Ok(PhysAddr(v))
        } else {
            Err(AddrError::TooWide(v))
        }
    }

    /// Explicit truncation to 52 bits.
    pub const fn new_truncate(v: u64) -> Self {
        PhysAddr(v & PHYS_ADDR_MASK)
    }

    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The frame holding this address.
    pub const fn pfn(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

/// A page frame number. The simulated machine has PFNs below `2^40` ([`MAX_PFN`]); a PFN read
/// back from a page-table entry may be wider, so any value is representable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Pfn(u64);

impl Pfn {
    /// Wraps a raw value without any check.
    pub const fn from_u64(v: u64) -> Self {
        Pfn(v)
    }

    /// Checks that the frame exists in the 40-bit PFN space of the machine model.
    pub const fn try_new(v: u64) -> Result<Self, AddrError> {
        if v < MAX_PFN {
            Ok(Pfn(v))
        } else {
            Err(AddrError::TooWide(v))
        }
    }

    /// Explicit truncation to the 40-bit PFN space.
    pub const fn new_truncate(v: u64) -> Self {
        Pfn(v & (MAX_PFN - 1))
    }

    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The physical address of the frame's first byte (wrapping like `pfn << PAGE_SHIFT`).
    pub const fn phys(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
}

impl From<u64> for Pfn {
    fn from(v: u64) -> Self {
        Pfn(v)
    }
}

impl From<Pfn> for u64 {
    fn from(v: Pfn) -> Self {
        v.0
    }
}

impl PartialEq<u64> for Pfn {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_align_wraps_to_zero() {
        assert_eq!(page_align(0), 0);
        assert_eq!(page_align(1), 4096);
        assert_eq!(page_align(u64::MAX - 4095), u64::MAX - 4095);
        assert_eq!(page_align(u64::MAX - 4094), 0);
    }

    #[test]
    fn align_and_orders() {
        assert_eq!(checked_align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(checked_align_up(u64::MAX, 2), None);
        assert_eq!(count_order(4096), 12);
        assert_eq!(count_order(4097), 13);
        assert_eq!(count_order(u64::MAX), 64);
        assert_eq!(fls(4), 3);
        assert_eq!(fls(1), 1);
    }

    #[test]
    fn canonical() {
        assert!(VirtAddr::try_new(0xffff_c900_0000_0000, Paging::FourLevel).is_ok());
        assert!(VirtAddr::try_new(0xffa0_0000_0000_0000, Paging::FourLevel).is_err());
        assert!(VirtAddr::try_new(0xffa0_0000_0000_0000, Paging::FiveLevel).is_ok());
        assert_eq!(
            VirtAddr::new_truncate(0x0000_c900_0000_0000, Paging::FourLevel).as_u64(),
            0xffff_c900_0000_0000
        );
    }
}
