//! Version knobs (semantics §13): the behaviours that changed inside 4.x and that a
//! single-threaded run can observe, one field of [`Knobs`] each.
//!
//! [`Knobs::default()`] is the 4.x canonical behaviour of semantics §12 (4.19.y: v4.19 with its
//! stable fixes), so a [`crate::MachineConfig`] built with `..Default::default()` behaves as before
//! the knobs existed. [`Knobs::v4_19_0()`] is "v4.19.0 as shipped": `faithful_4x_cache` on,
//! `align_wrap_check` off, `vunmap_lookup` `find_vmap_area_deref`, the other three at their
//! 4.19 values (which are their defaults). Each value has the snake_case name that traces
//! use on their `machine` line (design §5.7), through `name()` and `from_name()`.
//!
//! Knobs of semantics §13 that are **not** here, and why:
//! - `overflow_check` (`size_minus_1`, ≤3.10) and `find_vm_area` (exact start, ≤3.10):
//!   both changed in 3.11, before 4.0, so no 4.x kernel shows the old behaviour.
//! - `lazy_purge_mode` (flag scan ≤4.8, llist 4.9+): the purge releases the same VAs, with
//!   the same flush range and the same `lazy_nr`; only the release order differs (address
//!   order instead of newest first). That order reaches nothing but the cache moves of
//!   `faithful_4x_cache`, and those end in the same place in any order: each release at or
//!   below the cache moves it to the released VA's busy predecessor, so the cache ends at the
//!   busy predecessor of the lowest released VA at or below it (or is dropped if any
//!   released VA ends below `cached_vstart`), whichever VA goes first.
//! - `purge_notifier`: the model registers no notifier (R3), so the chain never frees
//!   anything and the retry loop of semantics §4.2 step 4.2 never runs.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

/// Defines one knob: its values, their trace names and its default.
macro_rules! knob {
    (
        $(#[$doc:meta])*
        $knob:ident, default $default:ident {
            $( $(#[$vdoc:meta])* $value:ident = $name:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $knob {
            $( $(#[$vdoc])* $value, )+
        }

        impl $knob {
            /// Every value, in the order of the spec's table (oldest kernel first).
            pub const ALL: &'static [$knob] = &[$($knob::$value),+];

            /// The value's trace name.
            pub fn name(self) -> &'static str {
                match self {
                    $( $knob::$value => $name, )+
                }
            }

            /// The value with this trace name, if any.
            pub fn from_name(name: &str) -> Option<$knob> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl Default for $knob {
            fn default() -> $knob {
                $knob::$default
            }
        }
    };
}

knob! {
    /// `faithful_4x_cache`: which VA search R3 runs.
    ///
    /// `off` (default) is exact lowest fit, the rule of semantics §4.3, which equals the 4.x search
    /// with the cache test made non-strict (`size <= cached_hole_size`). `on` is the 4.x
    /// search exactly as v4.19.0 ships it, with `free_vmap_cache`, `cached_hole_size`,
    /// `cached_vstart`, `cached_align`, the strict `size < cached_hole_size` and the cache
    /// moves of the purge (module `cache4x`). It places about 2.5 % of allocations higher
    /// than lowest fit and sometimes fails where lowest fit has room (semantics §4.4), so I7 does
    /// not hold under it.
    Faithful4xCache, default Off {
        /// Exact lowest fit (4.19.y as this project defines it, R3).
        Off = "off",
        /// The literal 4.x search of semantics §4.3 with its cache (v4.19.0).
        On = "on",
    }
}

knob! {
    /// `align_wrap_check`: what the search does with a candidate whose `ALIGN` wraps past
    /// 2^64 (R4).
    ///
    /// `on` (default, the 5.1 fix afd07389d3f4 and its backports): such a candidate is no
    /// fit; with nothing else fitting, the request fails through R3's purge, retry, warnings
    /// and NULL. `off` (v4.19.0): the kernel computes `ALIGN` modulo 2^64, gets address 0,
    /// passes the `found` test (`0 + size <= vend`), inserts the area at 0 and hits
    /// `BUG_ON(va->va_start < vstart)`, "kernel BUG at mm/vmalloc.c:512":
    /// [`crate::BugKind::VaStartBelowVstart`].
    ///
    /// When a search reaches a wrapped candidate (R4):
    /// - lowest fit (`faithful_4x_cache` off) when `ALIGN(vstart, align)` wraps, or when no
    ///   earlier candidate fits and the walk computes a wrapped `ALIGN(b.va_end, align)` while
    ///   the candidate before it still ended at or below `vend` (a candidate ending above
    ///   `vend` stops the walk first, with no fit);
    /// - the 4.x walk (`faithful_4x_cache` on) when its `found` step holds an address below
    ///   `vstart`, which only the wrap produces: a wrapped start from the cache falls back to
    ///   the full search (`addr < vstart` → `nocache`), so it is a wrapped
    ///   `ALIGN(vstart, align)` or a wrapped `ALIGN(first.va_end, align)` in the walk.
    ///
    /// Where in R13: inside `alloc_vmap_area`, i.e. after the `vm_struct` and `vmap_area`
    /// attempts (steps 1 and 2, both counted) and during placement (step 3): on the first
    /// search, or on the retry after the purge if only the retry reaches the wrap. No
    /// warning is printed and nothing is allocated afterwards; the BUG ends the input.
    AlignWrapCheck, default On {
        /// No wrap check: a wrapped candidate BUGs (v4.19.0).
        Off = "off",
        /// A wrapped candidate is no fit (5.1+, 4.19.y default).
        On = "on",
    }
}

knob! {
    /// `vunmap_lookup`: how `__vunmap` (vfree, vunmap, the deferred list) finds the area
    /// (semantics §5.2 step 3, R10).
    ///
    /// In every version a NULL address is a no-op and an unaligned one gives warning 4
    /// first. Then:
    /// - `remove_first` (≤4.17): `remove_vm_area(addr)` looks the area up and unmaps it in
    ///   one go; NULL → warning 5. Single-threaded this is **identical to the default**: the
    ///   same range lookup with the same VM_VM_AREA test, and the steps that follow are the
    ///   same ones (only the unobservable debug checks move), so the model implements it as
    ///   `find_vm_area`.
    /// - `find_vmap_area_deref` (4.18–4.20, 4.19.0–4.19.125): `find_vmap_area(addr)->vm`
    ///   with no NULL check on the VA. An address in no busy VA dereferences NULL: a crash
    ///   that ends the input, reported as [`crate::BugKind::Oops`]. An address in a lazily
    ///   freed VA reads its `vm`, which `remove_vm_area` cleared, so it still gives warning
    ///   5; an address in a live area frees it as by default.
    /// - `find_vm_area` (default, 5.0+, 4.19.126+): the range lookup; an address in no busy
    ///   VA or in a lazily freed one gives warning 5 and nothing else.
    VunmapLookup, default FindVmArea {
        /// `remove_vm_area` first (≤4.17); same single-threaded results as `find_vm_area`.
        RemoveFirst = "remove_first",
        /// `find_vmap_area(addr)->vm` without a NULL check (v4.19.0): Oops on no busy VA.
        FindVmapAreaDeref = "find_vmap_area_deref",
        /// `find_vm_area` then the NULL → warning 5 path (default).
        FindVmArea = "find_vm_area",
    }
}

knob! {
    /// `ioremap_align_rule`: the alignment `__get_vm_area_node` forces on VM_IOREMAP areas
    /// (semantics §3.2 step 2, R4), always clamped to `[PAGE_SHIFT, IOREMAP_MAX_ORDER]` = `[12,
    /// 30]` as a power of two, and overwriting the caller's `align`.
    ///
    /// - `fls` (≤4.0, bug 6): `fls(size)` of the **unaligned** size, truncated to its low
    ///   32 bits (`fls` takes an `int`), so a size of 4 GiB or more can get 4 KiB.
    /// - `fls_long_before_pagealign` (4.1–4.8, bug 8): `fls_long` of the **unaligned** size,
    ///   floor(log2) + 1, so a power-of-two size gets twice its size (64 KiB → 128 KiB).
    /// - `count_order_after_pagealign` (default, 4.9+): `get_count_order_long` of the
    ///   page-aligned size, ceil(log2) (64 KiB → 64 KiB).
    ///
    /// The old rules computed the alignment before the `PAGE_ALIGN(size) == 0` test; that
    /// order is not observable (the test returns NULL either way, before any allocation).
    /// The vmalloc family hands `__get_vm_area_node` a size already page aligned (semantics §3.1
    /// step 1), so there the two `fls` rules read the aligned size.
    IoremapAlignRule, default CountOrderAfterPagealign {
        /// `fls` of the low 32 bits of the unaligned size (≤4.0).
        Fls = "fls",
        /// `fls_long` of the unaligned size (4.1–4.8).
        FlsLongBeforePagealign = "fls_long_before_pagealign",
        /// `get_count_order_long` of the page-aligned size (4.9+, default).
        CountOrderAfterPagealign = "count_order_after_pagealign",
    }
}

knob! {
    /// `implicit_highmem`: the `__GFP_HIGHMEM` that `__vmalloc_area_node` adds on its own
    /// (semantics §6.1 step 4, semantics §6.2 step 1, semantics §10).
    ///
    /// Which request carries what (`gfp` is the caller's; metadata kmallocs strip zone bits
    /// through `GFP_RECLAIM_MASK` in every version, so they never carry HIGHMEM or DMA32),
    /// as data pages; nested pages-array vmalloc:
    /// - `caller_provided` (≤4.11): `gfp | NOWARN`; `nested_gfp | HIGHMEM`;
    /// - `unconditional` (4.12): `gfp | HIGHMEM | NOWARN`; `nested_gfp | HIGHMEM`;
    /// - `unless_dma` (4.13+, default): `gfp | NOWARN | highmem_mask`;
    ///   `nested_gfp | highmem_mask`;
    ///
    /// with `highmem_mask` = HIGHMEM unless `gfp` has DMA or DMA32. `nested_gfp` never has
    /// a zone bit, so the nested call and its own pages are valid under every value.
    ///
    /// `unconditional` is bug 9: a data-page request of a call whose gfp has DMA32 (or DMA),
    /// such as `vmalloc_32`, carries the invalid zone pair DMA32|HIGHMEM, and `gfp_zone`
    /// BUGs ([`crate::BugKind::InvalidZone`]). That check is a `VM_BUG_ON`, so the model,
    /// like the spec, assumes a CONFIG_DEBUG_VM kernel. `gfp_zone` runs in
    /// `prepare_alloc_pages` before the fault injector is asked, so the BUG fires at the
    /// first data-page request (R13 step 5, after the pages array, nested call included),
    /// and that request is **not** counted as a `DataPage` attempt. A caller's own invalid
    /// pair (an explicit HIGHMEM with DMA32) stays outside the model under every value, as
    /// before (never generated).
    ///
    /// On x86-64 HIGHMEM selects no zone (semantics §8.4), so `caller_provided` and `unless_dma`
    /// give the same results; the ≤4.11 callers' own `__GFP_HIGHMEM` (semantics §2) changes nothing
    /// either and is not added.
    ImplicitHighmem, default UnlessDma {
        /// Nothing added to the data pages (≤4.11).
        CallerProvided = "caller_provided",
        /// HIGHMEM always added (4.12): `vmalloc_32` BUGs in `gfp_zone`.
        Unconditional = "unconditional",
        /// HIGHMEM added unless DMA or DMA32 (4.13+, default).
        UnlessDma = "unless_dma",
    }
}

knob! {
    /// `vmap_nowarn_honoured`: whether `__GFP_NOWARN` silences warning 3, "vmap allocation
    /// for size %lu failed" (semantics §4.2 step 4.3, semantics §11.1).
    ///
    /// `no` (≤~4.10): warning 3 is printed whatever the gfp. Warnings 1 and 2 honour
    /// NOWARN in every version, so a NOWARN vmalloc that fails placement prints warning 3
    /// alone.
    VmapNowarnHonoured, default Yes {
        /// Warning 3 ignores NOWARN (≤~4.10).
        No = "no",
        /// Warning 3 honours NOWARN (default).
        Yes = "yes",
    }
}

/// The version knobs of one machine (semantics §13); see the module doc.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Knobs {
    /// Which VA search R3 runs.
    pub faithful_4x_cache: Faithful4xCache,
    /// Whether a wrapped `ALIGN` is no fit or a BUG (R4).
    pub align_wrap_check: AlignWrapCheck,
    /// How `__vunmap` finds the area (R10).
    pub vunmap_lookup: VunmapLookup,
    /// The VM_IOREMAP alignment rule (R4).
    pub ioremap_align_rule: IoremapAlignRule,
    /// The implicit `__GFP_HIGHMEM` of `__vmalloc_area_node` (R6).
    pub implicit_highmem: ImplicitHighmem,
    /// Whether NOWARN silences warning 3.
    pub vmap_nowarn_honoured: VmapNowarnHonoured,
}

/// A knob name or value that [`Knobs::set`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KnobError {
    /// No knob has this name.
    UnknownKnob(String),
    /// The knob exists but has no value of this name.
    UnknownValue {
        /// The knob.
        knob: String,
        /// The value given.
        value: String,
    },
}

impl std::fmt::Display for KnobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KnobError::UnknownKnob(k) => write!(f, "unknown version knob {k:?}"),
            KnobError::UnknownValue { knob, value } => {
                write!(f, "version knob {knob} has no value {value:?}")
            }
        }
    }
}

impl std::error::Error for KnobError {}

impl Knobs {
    /// The knob names, in the field order.
    pub const NAMES: [&'static str; 6] = [
        "faithful_4x_cache",
        "align_wrap_check",
        "vunmap_lookup",
        "ioremap_align_rule",
        "implicit_highmem",
        "vmap_nowarn_honoured",
    ];

    /// v4.19.0 as shipped: the 4.x search with its strict cache test, no ALIGN wrap check,
    /// and the NULL-dereferencing `__vunmap` lookup; the other knobs are at their 4.19
    /// values, which are the defaults.
    pub fn v4_19_0() -> Knobs {
        Knobs {
            faithful_4x_cache: Faithful4xCache::On,
            align_wrap_check: AlignWrapCheck::Off,
            vunmap_lookup: VunmapLookup::FindVmapAreaDeref,
            ..Knobs::default()
        }
    }

    /// Every knob with the name of its value, in [`Knobs::NAMES`] order.
    pub fn values(&self) -> [(&'static str, &'static str); 6] {
        let n = Knobs::NAMES;
        [
            (n[0], self.faithful_4x_cache.name()),
            (n[1], self.align_wrap_check.name()),
            (n[2], self.vunmap_lookup.name()),
            (n[3], self.ioremap_align_rule.name()),
            (n[4], self.implicit_highmem.name()),
            (n[5], self.vmap_nowarn_honoured.name()),
        ]
    }

    /// Sets the knob called `knob` to the value called `value` (both trace names).
    pub fn set(&mut self, knob: &str, value: &str) -> Result<(), KnobError> {
        let unknown = || KnobError::UnknownValue {
            knob: knob.to_string(),
            value: value.to_string(),
        };
        match knob {
            "faithful_4x_cache" => {
                self.faithful_4x_cache = Faithful4xCache::from_name(value).ok_or_else(unknown)?
            }
            "align_wrap_check" => {
                self.align_wrap_check = AlignWrapCheck::from_name(value).ok_or_else(unknown)?
            }
            "vunmap_lookup" => {
                self.vunmap_lookup = VunmapLookup::from_name(value).ok_or_else(unknown)?
            }
            "ioremap_align_rule" => {
                self.ioremap_align_rule = IoremapAlignRule::from_name(value).ok_or_else(unknown)?
            }
            "implicit_highmem" => {
                self.implicit_highmem = ImplicitHighmem::from_name(value).ok_or_else(unknown)?
            }
            "vmap_nowarn_honoured" => {
                self.vmap_nowarn_honoured =
                    VmapNowarnHonoured::from_name(value).ok_or_else(unknown)?
            }
            _ => return Err(KnobError::UnknownKnob(knob.to_string())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_are_4_19_y() {
        // semantics §13: the default of each knob is the 4.x canonical (4.19.y) value.
        let d = Knobs::default();
        assert_eq!(
            d.values(),
            [
                ("faithful_4x_cache", "off"),
                ("align_wrap_check", "on"),
                ("vunmap_lookup", "find_vm_area"),
                ("ioremap_align_rule", "count_order_after_pagealign"),
                ("implicit_highmem", "unless_dma"),
                ("vmap_nowarn_honoured", "yes"),
            ]
        );
        // semantics §13: v4.19.0 = faithful_4x_cache on, align_wrap_check off,
        // vunmap_lookup find_vmap_area_deref; the rest as 4.19 (= default).
        let v = Knobs::v4_19_0();
        assert_eq!(
            v.values(),
            [
                ("faithful_4x_cache", "on"),
                ("align_wrap_check", "off"),
                ("vunmap_lookup", "find_vmap_area_deref"),
                ("ioremap_align_rule", "count_order_after_pagealign"),
                ("implicit_highmem", "unless_dma"),
                ("vmap_nowarn_honoured", "yes"),
            ]
        );
        // Every value of every knob: set by name, read back by name.
        let all: [(&str, Vec<&str>); 6] = [
            ("faithful_4x_cache", vec!["off", "on"]),
            ("align_wrap_check", vec!["off", "on"]),
            (
                "vunmap_lookup",
                vec!["remove_first", "find_vmap_area_deref", "find_vm_area"],
            ),
            (
                "ioremap_align_rule",
                vec![
                    "fls",
                    "fls_long_before_pagealign",
                    "count_order_after_pagealign",
                ],
            ),
            (
                "implicit_highmem",
                vec!["caller_provided", "unconditional", "unless_dma"],
            ),
            ("vmap_nowarn_honoured", vec!["no", "yes"]),
        ];
        for (i, (knob, values)) in all.iter().enumerate() {
            for value in values {
                let mut k = Knobs::default();
                assert_eq!(k.set(knob, value), Ok(()));
                assert_eq!(k.values()[i], (*knob, *value));
            }
        }
        assert_eq!(VunmapLookup::ALL.len(), 3);
        assert_eq!(
            IoremapAlignRule::from_name("fls"),
            Some(IoremapAlignRule::Fls)
        );
        assert_eq!(ImplicitHighmem::from_name("unless-dma"), None);
        let mut k = Knobs::default();
        assert_eq!(
            k.set("overflow_check", "plus_size"),
            Err(KnobError::UnknownKnob("overflow_check".into()))
        );
        assert_eq!(
            k.set("align_wrap_check", "maybe"),
            Err(KnobError::UnknownValue {
                knob: "align_wrap_check".into(),
                value: "maybe".into()
            })
        );
        assert_eq!(k, Knobs::default());
    }
}
