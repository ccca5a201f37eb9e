//! Shared helpers for the integration tests. Expected values in the tests are derived by hand
//! from `docs/semantics.md` (each derivation is a comment beside the value); these helpers only
//! read the engine's raw state, with a page-table walker written independently of the engine's.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.
#![allow(dead_code)]

use vmalloc_engine::{Event, Kernel, MachineConfig, VirtAddr};

/// VMALLOC_START of the default machine (semantics §8.1).
pub const V: u64 = 0xffff_c900_0000_0000;
/// VMALLOC_END of the default machine, the odd last-byte form (semantics §8.1).
pub const VEND: u64 = 0xffff_e8ff_ffff_ffff;
/// MODULES_VADDR without KASLR (semantics §8.1).
pub const MODULES: u64 = 0xffff_ffff_a000_0000;
/// MODULES_END (semantics §8.1).
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;
/// PAGE_KERNEL in scenario A (semantics §8.3).
pub const PAGE_KERNEL: u64 = 0x8000_0000_0000_0163;
/// One page.
pub const P: u64 = 4096;
/// The first pool PFN (semantics §12.2: PFNs below 256 are never handed out).
pub const FIRST: u64 = 0x100;

/// The design §3.17 default machine.
pub fn kernel() -> Kernel {
    Kernel::new(MachineConfig::default()).expect("default config is valid")
}

/// The default machine, changed by `f`.
pub fn kernel_with(f: impl FnOnce(&mut MachineConfig)) -> Kernel {
    let mut c = MachineConfig::default();
    f(&mut c);
    Kernel::new(c).expect("test config is valid")
}

/// Unwraps a successful allocation to its raw address.
pub fn ok(r: Result<Option<VirtAddr>, vmalloc_engine::Fatal>) -> u64 {
    r.expect("no fatal").expect("allocation succeeds").as_u64()
}

/// Raw entry `idx` of table frame `pfn`.
pub fn entry(k: &Kernel, pfn: u64, idx: usize) -> u64 {
    k.phys().read_entry(pfn, idx).expect("frame exists")
}

/// The raw entries on the walk to `va` (4-level): `[pgd, pud, pmd, pte]`, stopping with 0 at
/// the first zero entry. Written independently of the engine's walker.
pub fn walk4(k: &Kernel, va: u64) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut table = 1u64; // root PGD at PFN 1 (semantics §12.1)
                          // Contract §2: PFN field = entry & 0x000f_ffff_ffff_f000 & !sme_c_bit.
    let mask = 0x000f_ffff_ffff_f000 & !k.config().sme_c_bit;
    for (i, shift) in [39u32, 30, 21, 12].into_iter().enumerate() {
        let e = entry(k, table, ((va >> shift) & 511) as usize);
        out[i] = e;
        if e == 0 {
            break;
        }
        table = (e & mask) >> 12;
    }
    out
}

/// The leaf PTE of `va` (0 when some level is empty).
pub fn pte(k: &Kernel, va: u64) -> u64 {
    walk4(k, va)[3]
}

/// Takes the events and returns them.
pub fn events(k: &mut Kernel) -> Vec<Event> {
    k.take_events()
}
