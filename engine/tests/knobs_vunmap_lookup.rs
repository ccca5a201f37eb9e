//! Knob `vunmap_lookup` (semantics §5.2 step 3, semantics §5.3, R10; bug 13):
//! `find_vmap_area_deref` (4.18–4.20, 4.19.0–4.19.125) dereferences the NULL vmap_area of an
//! address in no busy VA (an oops that ends the input, `BugKind::Oops`); a lazily freed VA
//! still gives warning 5; NULL and unaligned addresses are handled first, as before.
//! `remove_first` (≤4.17) is the default's behaviour single-threaded.
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

mod common;
use common::*;
use vmalloc_engine::{BugKind, Context, Event, Fatal, Kernel, Knobs, VunmapLookup};

const OOPS: Fatal = Fatal::Bug(BugKind::Oops);

fn with(lookup: VunmapLookup) -> Kernel {
    kernel_with(|c| {
        c.knobs = Knobs {
            vunmap_lookup: lookup,
            ..Knobs::default()
        }
    })
}

/// An address in no busy VA (nothing was ever allocated): default and `remove_first` give
/// warning 5 and do nothing; `find_vmap_area_deref` oopses, with no warning, and the machine
/// is dead. The same for `vunmap`.
#[test]
fn address_in_no_busy_va() {
    for lookup in [VunmapLookup::FindVmArea, VunmapLookup::RemoveFirst] {
        let mut k = with(lookup);
        assert_eq!(k.vfree(V, Context::Process), Ok(()));
        assert_eq!(k.vunmap(V + 0x5000, Context::Process), Ok(()));
        assert_eq!(
            events(&mut k),
            vec![
                Event::NonexistentArea { addr: V },
                Event::NonexistentArea { addr: V + 0x5000 }
            ]
        );
    }
    let mut k = with(VunmapLookup::FindVmapAreaDeref);
    assert_eq!(k.vfree(V, Context::Process), Err(OOPS));
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.fatal(), Some(OOPS));
    let mut k = with(VunmapLookup::FindVmapAreaDeref);
    assert_eq!(k.vunmap(V, Context::Process), Err(OOPS));
}

/// NULL and an unaligned address come before the lookup: no-op, and warning 4, in every mode.
#[test]
fn null_and_unaligned_first() {
    let mut k = with(VunmapLookup::FindVmapAreaDeref);
    assert_eq!(k.vfree(0u64, Context::Process), Ok(()));
    assert_eq!(k.vfree(V + 1, Context::Process), Ok(()));
    assert_eq!(k.vunmap(V + 8, Context::Process), Ok(()));
    assert_eq!(
        events(&mut k),
        vec![
            Event::BadAddress { addr: V + 1 },
            Event::BadAddress { addr: V + 8 }
        ]
    );
    assert_eq!(k.fatal(), None);
}

/// A double free before the purge: the VA is lazily freed, still busy, its `vm` NULL: warning
/// 5 in every mode (vmalloc(4K) = [V, V+0x2000), lazy_nr 2 after the first vfree). After
/// the purge the VA is gone: default warning 5, `find_vmap_area_deref` oopses.
#[test]
fn double_free_before_and_after_the_purge() {
    for lookup in VunmapLookup::ALL.iter().copied() {
        let mut k = with(lookup);
        let p = ok(k.vmalloc(P, 1));
        k.vfree(p, Context::Process).unwrap();
        assert_eq!(k.lazy_nr(), 2);
        assert_eq!(k.vfree(p, Context::Process), Ok(()));
        // The guard page is inside the lazy VA too.
        assert_eq!(k.vunmap(p + P, Context::Process), Ok(()));
        assert_eq!(
            events(&mut k),
            vec![
                Event::NonexistentArea { addr: p },
                Event::NonexistentArea { addr: p + P }
            ],
            "{lookup:?}"
        );
        k.vm_unmap_aliases();
        events(&mut k);
        let r = k.vfree(p, Context::Process);
        if lookup == VunmapLookup::FindVmapAreaDeref {
            assert_eq!(r, Err(OOPS));
            assert_eq!(events(&mut k), vec![]);
        } else {
            assert_eq!(r, Ok(()));
            assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: p }]);
        }
    }
}

/// A live area is freed the same way in every mode, by any page-aligned address inside it,
/// the guard page included (R10): vmalloc(8K) = [V, V+0x3000); vfree(V + 0x2000) frees the
/// whole area: 3 pages lazy, no event.
#[test]
fn live_area_by_interior_address() {
    for lookup in VunmapLookup::ALL.iter().copied() {
        let mut k = with(lookup);
        let p = ok(k.vmalloc(2 * P, 1));
        assert_eq!(k.vfree(p + 2 * P, Context::Process), Ok(()));
        assert_eq!(k.lazy_nr(), 3, "{lookup:?}");
        assert_eq!(events(&mut k), vec![]);
        assert_eq!(k.find_vm_area(p), None);
    }
}

/// The deferred path reaches `__vunmap` too: a live area deferred and run is freed; an
/// address with no VA cannot be deferred (its list write faults first, contract §10), so the
/// knob changes nothing there.
#[test]
fn deferred_free_of_a_live_area() {
    let mut k = with(VunmapLookup::FindVmapAreaDeref);
    let p = ok(k.vmalloc(P, 1));
    k.vfree(p, Context::Interrupt).unwrap();
    k.run_deferred().unwrap();
    assert_eq!(k.lazy_nr(), 2);
    assert_eq!(k.vfree(V + 0x10_0000, Context::Interrupt), Err(OOPS));
}
