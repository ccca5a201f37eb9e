//! GFP flags with their 4.15–4.19 bit values (semantics §10, contract §2).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use bitflags::bitflags;

bitflags! {
    /// `gfp_t` bits as in 4.19 (semantics §10). Unknown bits are kept (`from_bits_retain`) and
    /// ignored.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Gfp: u32 {
        /// `__GFP_DMA`: ZONE_DMA, the first 16 MiB on x86-64 (`gfp_zone`). The machine's
        /// ZONE_DMA is empty, so a page request with this bit finds no page (semantics §12.2,
        /// design §5.6). Never generated.
        const DMA = 0x01;
        /// `__GFP_HIGHMEM`: a no-op on x86-64 (semantics §8.4).
        const HIGHMEM = 0x02;
        /// `__GFP_DMA32`: pages below 4 GiB only (semantics §8.4, R6).
        const DMA32 = 0x04;
        /// `__GFP_MOVABLE`.
        const MOVABLE = 0x08;
        /// `__GFP_RECLAIMABLE`.
        const RECLAIMABLE = 0x10;
        /// `__GFP_HIGH`.
        const HIGH = 0x20;
        /// `__GFP_IO`.
        const IO = 0x40;
        /// `__GFP_FS`.
        const FS = 0x80;
        /// `__GFP_WRITE`.
        const WRITE = 0x100;
        /// `__GFP_NOWARN`: suppresses warnings 1–3 (semantics §11.1).
        const NOWARN = 0x200;
        /// `__GFP_RETRY_MAYFAIL`.
        const RETRY_MAYFAIL = 0x400;
        /// `__GFP_NOFAIL`: metadata and pages never fail and are never fault-injected
        /// (semantics §10).
        const NOFAIL = 0x800;
        /// `__GFP_NORETRY`.
        const NORETRY = 0x1000;
        /// `__GFP_MEMALLOC`.
        const MEMALLOC = 0x2000;
        /// `__GFP_COMP`.
        const COMP = 0x4000;
        /// `__GFP_ZERO`: the page reads zero (semantics §10, design §3.10).
        const ZERO = 0x8000;
        /// `__GFP_NOMEMALLOC`.
        const NOMEMALLOC = 0x10000;
        /// `__GFP_HARDWALL`.
        const HARDWALL = 0x20000;
        /// `__GFP_THISNODE`: only the requested node (semantics §12.2).
        const THISNODE = 0x40000;
        /// `__GFP_ATOMIC`.
        const ATOMIC = 0x80000;
        /// `__GFP_ACCOUNT`.
        const ACCOUNT = 0x100000;
        /// `__GFP_DIRECT_RECLAIM`.
        const DIRECT_RECLAIM = 0x200000;
        /// `__GFP_KSWAPD_RECLAIM`.
        const KSWAPD_RECLAIM = 0x400000;
    }
}

impl Gfp {
    /// `__GFP_RECLAIM`.
    pub const RECLAIM: Gfp = Gfp::DIRECT_RECLAIM.union(Gfp::KSWAPD_RECLAIM);
    /// `GFP_KERNEL` = `__GFP_RECLAIM | __GFP_IO | __GFP_FS` = `0x6000c0` (semantics §10).
    pub const KERNEL: Gfp = Gfp::RECLAIM.union(Gfp::IO).union(Gfp::FS);
    /// `GFP_VMALLOC32` on x86-64 = `GFP_KERNEL | GFP_DMA32` (semantics §2).
    pub const VMALLOC32: Gfp = Gfp::KERNEL.union(Gfp::DMA32);
    /// `GFP_RECLAIM_MASK` (mm/internal.h, 4.19; semantics §10).
    pub const RECLAIM_MASK: Gfp = Gfp::RECLAIM
        .union(Gfp::HIGH)
        .union(Gfp::IO)
        .union(Gfp::FS)
        .union(Gfp::NOWARN)
        .union(Gfp::RETRY_MAYFAIL)
        .union(Gfp::NOFAIL)
        .union(Gfp::NORETRY)
        .union(Gfp::MEMALLOC)
        .union(Gfp::NOMEMALLOC)
        .union(Gfp::ATOMIC);

    /// The gfp of kmalloc'ed metadata: `gfp & GFP_RECLAIM_MASK` (semantics §3.2 step 3,
    /// semantics §4.2 step 1).
    pub const fn reclaim_only(self) -> Gfp {
        self.intersection(Gfp::RECLAIM_MASK)
    }

    /// `nested_gfp = (gfp & GFP_RECLAIM_MASK) | __GFP_ZERO` (semantics §6.1 step 3, R5).
    pub const fn nested(self) -> Gfp {
        self.reclaim_only().union(Gfp::ZERO)
    }

    /// `highmem_mask` (4.13+): `__GFP_HIGHMEM` unless the gfp asks for DMA or DMA32
    /// (semantics §6.1).
    pub const fn highmem_mask(self) -> Gfp {
        if self.intersects(Gfp::DMA.union(Gfp::DMA32)) {
            Gfp::empty()
        } else {
            Gfp::HIGHMEM
        }
    }

    /// False for the zone-modifier combinations `gfp_zone` rejects (`GFP_ZONE_BAD`, a
    /// `VM_BUG_ON`): more than one of `__GFP_DMA`, `__GFP_DMA32` and `__GFP_HIGHMEM`
    /// (`__GFP_MOVABLE` does not matter). Bug 9 is `GFP_DMA32 | __GFP_HIGHMEM`.
    pub const fn has_valid_zone(self) -> bool {
        self.intersection(Gfp::DMA.union(Gfp::DMA32).union(Gfp::HIGHMEM))
            .bits()
            .count_ones()
            <= 1
    }

    /// True if the request may not fail (semantics §10).
    pub const fn is_nofail(self) -> bool {
        self.contains(Gfp::NOFAIL)
    }

    /// True if the caller asked for no allocation-failure warnings (semantics §11.1).
    pub const fn is_nowarn(self) -> bool {
        self.contains(Gfp::NOWARN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(Gfp::KERNEL.bits(), 0x6000c0);
        assert_eq!(Gfp::KERNEL.nested(), Gfp::KERNEL | Gfp::ZERO);
        assert_eq!(
            (Gfp::VMALLOC32 | Gfp::THISNODE).nested(),
            Gfp::KERNEL | Gfp::ZERO
        );
        assert_eq!(Gfp::VMALLOC32.highmem_mask(), Gfp::empty());
        assert_eq!(Gfp::KERNEL.highmem_mask(), Gfp::HIGHMEM);
    }

    #[test]
    fn zone_pairs() {
        // GFP_ZONE_BAD: any two or three of DMA, DMA32, HIGHMEM, with or without MOVABLE.
        assert!(Gfp::KERNEL.has_valid_zone());
        assert!(Gfp::VMALLOC32.has_valid_zone());
        assert!((Gfp::KERNEL | Gfp::HIGHMEM | Gfp::MOVABLE).has_valid_zone());
        assert!((Gfp::KERNEL | Gfp::DMA).has_valid_zone());
        assert!(!(Gfp::VMALLOC32 | Gfp::HIGHMEM).has_valid_zone());
        assert!(!(Gfp::DMA | Gfp::HIGHMEM).has_valid_zone());
        assert!(!(Gfp::DMA | Gfp::DMA32).has_valid_zone());
        assert!(!(Gfp::DMA | Gfp::DMA32 | Gfp::HIGHMEM | Gfp::MOVABLE).has_valid_zone());
    }
}
