//! Version knobs: the behaviours that changed inside 4.x, selectable per machine
//! (semantics §13, design §5.7).
//!
//! [`Knobs::default()`] is 4.x canonical, i.e. 4.19.y (semantics §12): every engine
//! behaviour outside this module's knobs is that of the default. [`Knobs::v4_19_0()`] is the
//! preset "v4.19.0 as shipped": `faithful_4x_cache=on`, `align_wrap_check=off`,
//! `vunmap_lookup=find_vmap_area_deref`, the others at their 4.19 values (= defaults). A trace
//! names a knob as `key=value` on its `machine` line; every knob type has a `KEY`, `ALL`,
//! [`name`](Faithful4xCache::name) and [`from_name`](Faithful4xCache::from_name) with the
//! snake_case spellings below, and [`Knobs::set`] / [`Knobs::entries`] parse and print them.
//!
//! # The knobs
//!
//! Sections (§) in this table are those of `docs/semantics.md`.
//!
//! | key | values (default in bold) | where it acts |
//! |---|---|---|
//! | `faithful_4x_cache` | **`off`** / `on` | VA placement (§4.3, §4.4, R3) |
//! | `align_wrap_check` | **`on`** / `off` | VA placement (§4.3 "found", R4) |
//! | `vunmap_lookup` | `remove_first` / `find_vmap_area_deref` / **`find_vm_area`** | `__vunmap` (§5.2 step 3, R10) |
//! | `ioremap_align_rule` | `fls` / `fls_long_before_pagealign` / **`count_order_after_pagealign`** | `__get_vm_area_node` (§3.2 step 2, R4) |
//! | `implicit_highmem` | `caller_provided` / `unconditional` / **`unless_dma`** | the gfp of the API wrappers (§2) and `__vmalloc_area_node` (§6.1, §6.2) |
//! | `vmap_nowarn_honoured` | **`yes`** / `no` | warning 3 (§4.2 step 4.3, §11.1) |
//!
//! Each type's documentation says exactly what its values do, where a `BUG` it can cause
//! fires in the allocation order (R13), and which readings were chosen where the spec is
//! silent.
//!
//! Six old values are also entries of the bug zoo (design §4.3, [`crate::PlantedBug::knob`]):
//! under such a planted fault the engine runs the old value ([`crate::Kernel::knobs`]) while
//! the machine, and so the model, keeps its own.
//!
//! # Knobs of semantics §13 that are not here
//!
//! Only knobs that change single-threaded behaviour inside 4.x (4.0–4.20) are offered:
//! - `overflow_check` (`size_minus_1`) and `find_vm_area` (exact start) are the 3.10 and
//!   earlier behaviours: every 4.x kernel has the `addr + size < addr` test and the range
//!   lookup (fixed in 3.11), so inside 4.x there is nothing to select.
//! - `lazy_purge_mode` (flag scan, ≤4.8, against the llist of 4.9+) has the same
//!   single-threaded semantics (semantics §13): the same VAs are released, `vmap_lazy_nr`
//!   returns to the same value and the one TLB flush covers the same range. Only the order in which a
//!   purge hands the released VAs to `__free_vmap_area` differs (address order against newest
//!   first), and that order reaches nothing observable: whatever the order, the search cache
//!   (`faithful_4x_cache`) ends a purge in the same state: dropped if a released VA ends below
//!   `cached_vstart`, else at the predecessor of the lowest released VA starting at or below
//!   the cached one, else unchanged (checked over every release order of many small random
//!   cases). The engine releases newest first, as 4.9+.
//! - `purge_notifier`: the model registers no notifier (R3), so `vmap_notify_list` reports
//!   nothing freed and the retry it could trigger never happens; "absent" and "present but
//!   empty" are the same machine.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use core::fmt;

/// Defines one knob: a value enum with its trace key, its value names, `ALL`, `name`,
/// `from_name`, `Display` and `Default`.
macro_rules! knob {
    (
        $(#[$meta:meta])*
        pub enum $name:ident = $key:literal, default $default:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $vname:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The knob's key on a trace's `machine` line.
            pub const KEY: &'static str = $key;

            /// Every value, oldest kernel behaviour first.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's snake_case name (`key=name` on a `machine` line).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $vname,)+
                }
            }

            /// The value with this snake_case name, if any.
            pub fn from_name(s: &str) -> Option<Self> {
                match s {
                    $($vname => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

knob! {
    /// `faithful_4x_cache`: how a VA is placed (semantics §4.3, semantics §4.4, R3; bug P1).
    ///
    /// - `off` (default): exact lowest fit over every busy VA, lazy ones included, in O(log n)
    ///   (the free-gap tree). It equals the 4.x search with the cache test made non-strict.
    /// - `on` (v4.19.0 and, as far as is known, every 4.x release): the literal 4.x search of
    ///   semantics §4.3 over the busy VAs in address order (an O(n) walk, as the kernel's), with
    ///   its cache `free_vmap_cache`, `cached_hole_size`, `cached_vstart`, `cached_align`:
    ///   - the cache is reset (`cached_hole_size = 0`, no cached VA) when no VA is cached,
    ///     when `size < cached_hole_size` (**strict**: the off-by-one), when
    ///     `vstart < cached_vstart` or when `align < cached_align`; then `cached_vstart` and
    ///     `cached_align` take the request's values;
    ///   - with a cached VA the walk starts at `ALIGN(cache.va_end, align)` (below `vstart`:
    ///     reset and full search), otherwise at `ALIGN(vstart, align)` with the first busy VA
    ///     ending at or above it;
    ///   - each step of the walk records a hole when `addr + cached_hole_size <
    ///     first.va_start` in wrapping 64-bit arithmetic, as C computes it, and then sets
    ///     `cached_hole_size = first.va_start - addr` (wrapping too);
    ///   - every successful insert caches the new VA; `alloc_vmap_area`'s purge and retry
    ///     re-run the whole search;
    ///   - each purge runs `__free_vmap_area` on the released VAs newest first: a released VA
    ///     ending below `cached_vstart` drops the cache; otherwise one starting at or below
    ///     the cached VA moves the cache to the released VA's predecessor (possibly none).
    ///     `cached_hole_size` and `cached_align` are not updated by frees.
    ///
    ///   Consequences (semantics §4.4): a request whose size equals the recorded hole skips an
    ///   exact-fit hole below the cache (a higher address than lowest fit), and when the
    ///   space above the cache is exhausted it fails spuriously (purge, retry, -EBUSY:
    ///   warnings 3 then 1) although lowest fit has room; the overflow purge can also run
    ///   where lowest fit would have needed none.
    ///
    /// Where the spec leaves a choice: when one busy VA ends exactly at the walk's start and
    /// another starts there, the kernel's rb-tree descent may return either (semantics §4.3); the
    /// engine takes the one ending there (the lowest VA with `va_end >= addr`). The result is
    /// the same either way: that VA is passed over without recording a hole (its start lies
    /// below `addr`, and the recording sum cannot wrap since a walk's `cached_hole_size` never
    /// exceeds `size`), and the walk then stands at the VA starting there.
    pub enum Faithful4xCache = "faithful_4x_cache", default Off {
        /// Exact lowest fit (default; = the 4.x search with `size <= cached_hole_size`).
        Off = "off",
        /// The literal v4.19.0 search with `size < cached_hole_size`.
        On = "on",
    }
}

knob! {
    /// `align_wrap_check`: what the search does with a candidate whose `ALIGN` wrapped past
    /// 2^64 to 0 (semantics §4.3 "found", R4; bug 16).
    ///
    /// - `on` (default; afd07389d3f4, 5.1, and its stable backports): such a candidate is no
    ///   fit. If nothing else fits the request fails through R3 (purge, retry, warnings).
    /// - `off` (v4.19.0): the search "finds" address 0, inserts it and hits
    ///   `BUG_ON(va->va_start < vstart)`, "kernel BUG at mm/vmalloc.c:512!":
    ///   [`BugKind::VaStartBelowVstart`](crate::BugKind::VaStartBelowVstart).
    ///
    /// Where the BUG fires: inside `alloc_vmap_area`, at placement (R13 step 3), i.e. after
    /// the vm_struct (step 1) and vmap_area (step 2) allocations were made (both counted as
    /// fault-plan attempts), on the first search that reaches a wrapped candidate: that can be
    /// the search before the overflow purge or the retry after it. The machine is then dead.
    ///
    /// When a search reaches a wrapped candidate:
    /// - with `faithful_4x_cache=off` (lowest fit): when lowest fit finds nothing and the 4.x
    ///   walk from `ALIGN(vstart, align)` over the busy VAs (cache-less; a cache cannot change
    ///   this outcome when the hole test is non-strict) computes a wrapped `ALIGN` before a
    ///   candidate with `addr + size > vend`. So: `ALIGN(vstart, align)` itself wraps (from
    ///   VMALLOC_START 0xffffc90000000000 for `align >= 2^46`, from MODULES_VADDR
    ///   0xffffffffa0000000 for `align >= 2^31`, from a KASLR module start
    ///   0xffffffffc0000000 + offset for `align >= 2^30`), or every aligned candidate above
    ///   the start is taken and the walk passes a busy VA with `va_end > 2^64 - align` while
    ///   its candidates still end at or below `vend`. A lowest fit, when there is one, always
    ///   comes first: the walk's candidates only grow until they wrap.
    /// - with `faithful_4x_cache=on`: whenever the literal walk does; a wrapped first
    ///   candidate from the cache is not one (the kernel resets the cache and searches from
    ///   `vstart`).
    ///
    /// A wrapped candidate that fails the `addr + size > vend` test (only with `vend` below
    /// the size) is an ordinary overflow in both modes.
    pub enum AlignWrapCheck = "align_wrap_check", default On {
        /// v4.19.0: a wrapped candidate is inserted at 0 and BUGs.
        Off = "off",
        /// 5.1+ and stable backports: a wrapped candidate is no fit (default).
        On = "on",
    }
}

knob! {
    /// `vunmap_lookup`: how `__vunmap` (`vfree`, `vunmap`, the deferred frees, a nested
    /// array's `kvfree`) finds the area to free (semantics §5.2 step 3, semantics §5.3, R10).
    /// NULL is a no-op and an unaligned address gives warning 4 first, in every mode.
    ///
    /// - `remove_first` (≤4.17): `remove_vm_area(addr)` does the lookup and the removal in
    ///   one step; NULL gives warning 5. **Single-threaded this is exactly the default**: the
    ///   same range lookup with the same VM_VM_AREA test, and the removal (PTE clear, lazy
    ///   add, threshold purge) comes before the pages and the array are freed in both. What
    ///   differs is only the debug-object checks (on `addr`, after the removal), which are
    ///   not modelled, and a race window. The engine implements it as the default.
    /// - `find_vmap_area_deref` (4.18–4.20, 4.19.0–4.19.125; f3c01d2f3ade): `area =
    ///   find_vmap_area(addr)->vm` with no NULL check on the vmap_area. An address in **no
    ///   busy VA** dereferences NULL: the kernel oopses and the input ends,
    ///   [`BugKind::Oops`](crate::BugKind::Oops), with nothing freed and no warning. An
    ///   address in a lazily freed VA (its `vm` is NULL) still gives warning 5; an address
    ///   in a live area frees it as the default does.
    /// - `find_vm_area` (default; 5.0+, 4.19.126+): `find_vm_area(addr)`, warning 5 when it
    ///   gives NULL.
    pub enum VunmapLookup = "vunmap_lookup", default FindVmArea {
        /// ≤4.17: `remove_vm_area` first (single-threaded identical to `find_vm_area`).
        RemoveFirst = "remove_first",
        /// 4.18–4.20, 4.19.0–4.19.125: an address in no busy VA oopses.
        FindVmapAreaDeref = "find_vmap_area_deref",
        /// 5.0+, 4.19.126+: warning 5 and nothing else (default).
        FindVmArea = "find_vm_area",
    }
}

knob! {
    /// `ioremap_align_rule`: the alignment of a `VM_IOREMAP` request, which overwrites the
    /// caller's (semantics §3.2 step 2, R4; bugs 6 and 8). Every rule clamps the
    /// order to `[PAGE_SHIFT, IOREMAP_MAX_ORDER]` = `[12, 30]` (x86-64 `PUD_SHIFT`) and the
    /// alignment is `1 << order`.
    ///
    /// - `fls` (≤4.0): `fls` of the **low 32 bits** of the unaligned size (`fls` takes an
    ///   `int`), so a request of 4 GiB or more gets an alignment from its low bits only:
    ///   exactly 4 GiB gives `fls(0) = 0`, clamped to 12, i.e. 4 KiB (bug 6).
    /// - `fls_long_before_pagealign` (4.1–4.8): `fls_long` of the unaligned size, before
    ///   `PAGE_ALIGN`; `fls_long` is floor(log2)+1, so a power-of-two size gets twice its size
    ///   (64 KiB → 128 KiB, bug 8), and so does a 1-page request (8 KiB).
    /// - `count_order_after_pagealign` (default; 4.9+): `get_count_order_long` (ceil(log2))
    ///   of the page-aligned size.
    ///
    /// A size whose `PAGE_ALIGN` is 0 returns NULL before anything else under every rule.
    pub enum IoremapAlignRule = "ioremap_align_rule", default CountOrderAfterPagealign {
        /// ≤4.0: `fls` of the low 32 bits of the unaligned size.
        Fls = "fls",
        /// 4.1–4.8: `fls_long` of the unaligned size.
        FlsLongBeforePagealign = "fls_long_before_pagealign",
        /// 4.9+: `get_count_order_long` of the page-aligned size (default).
        CountOrderAfterPagealign = "count_order_after_pagealign",
    }
}

impl IoremapAlignRule {
    /// The alignment this rule gives a `VM_IOREMAP` request of `size` bytes (as the caller
    /// passed it, before `PAGE_ALIGN`). Defined for every `size`; for a size whose
    /// `PAGE_ALIGN` is 0 the request returns NULL before the alignment is used.
    pub const fn align(self, size: u64) -> u64 {
        /// `PAGE_SHIFT`.
        const MIN: u32 = 12;
        /// x86-64 `IOREMAP_MAX_ORDER` = `PUD_SHIFT`.
        const MAX: u32 = 30;
        let order = match self {
            IoremapAlignRule::Fls => crate::addr::fls(size & 0xffff_ffff),
            IoremapAlignRule::FlsLongBeforePagealign => crate::addr::fls(size),
            IoremapAlignRule::CountOrderAfterPagealign => {
                crate::addr::count_order(crate::addr::page_align(size))
            }
        };
        let order = if order < MIN {
            MIN
        } else if order > MAX {
            MAX
        } else {
            order
        };
        1 << order
    }
}

knob! {
    /// `implicit_highmem`: who adds `__GFP_HIGHMEM` to vmalloc's page requests
    /// (semantics §2, semantics §6.1, semantics §6.2, semantics §10; bug 9).
    ///
    /// - `caller_provided` (≤4.11): `vmalloc`, `vzalloc`, `vmalloc_user`, `vmalloc_node`,
    ///   `vzalloc_node`, `vmalloc_exec` and `module_alloc` pass `GFP_KERNEL | __GFP_HIGHMEM`
    ///   (plus `__GFP_ZERO` where they zero); `vmalloc_32`, `vmalloc_32_user` and
    ///   `__vmalloc` pass their gfp unchanged. `__vmalloc_area_node` adds nothing to the data
    ///   pages (`gfp | __GFP_NOWARN`) and always adds `__GFP_HIGHMEM` to a nested array's
    ///   `nested_gfp`. **On x86-64 this is observably the default**: `__GFP_HIGHMEM` selects
    ///   nothing there (no highmem zone, semantics §8.4), no request gets an invalid zone pair, and
    ///   the metadata masks strip the bit. It is implemented faithfully all the same.
    /// - `unconditional` (4.12, 19809c2da28a): the wrappers pass plain `GFP_KERNEL` and
    ///   `__vmalloc_area_node` adds `__GFP_HIGHMEM` to every data-page request and to the
    ///   nested array's gfp, even when the caller asked for `GFP_DMA32`: `vmalloc_32`'s
    ///   first data page is requested with `GFP_DMA32 | __GFP_HIGHMEM`, an invalid zone pair,
    ///   and `gfp_zone` BUGs: [`BugKind::InvalidZone`](crate::BugKind::InvalidZone). That is
    ///   R13 step 5 at index 0: after the vm_struct, the vmap_area, the placement and the
    ///   pages array (a nested array is a complete, successful vmalloc of its own, since
    ///   `nested_gfp` has no zone bit), and before that page's fault-plan attempt is counted
    ///   (`gfp_zone` runs before the page allocator's fault-injection hook).
    /// - `unless_dma` (default; 4.13+, 704b862f9efd): `__GFP_HIGHMEM` is added to the data
    ///   pages and the nested array only when the caller's gfp has neither `GFP_DMA` nor
    ///   `GFP_DMA32`.
    ///
    /// The zone check itself belongs to the page allocator, so it applies to every page
    /// request whatever this knob says (vmalloc data pages, nested ones, `alloc_page`): more
    /// than one of `__GFP_DMA`, `__GFP_DMA32`, `__GFP_HIGHMEM` is `GFP_ZONE_BAD`. With the
    /// other two values only a caller passing such a pair itself reaches it, which the harness
    /// never generates (design §3.15). In the kernel this is a `VM_BUG_ON`, so a
    /// `CONFIG_DEBUG_VM` kernel BUGs (as in bug 9's report); the engine models that kernel.
    pub enum ImplicitHighmem = "implicit_highmem", default UnlessDma {
        /// ≤4.11: the API wrappers pass `__GFP_HIGHMEM`.
        CallerProvided = "caller_provided",
        /// 4.12: always added, even with `GFP_DMA32` (BUG in `gfp_zone`).
        Unconditional = "unconditional",
        /// 4.13+: added unless the gfp has `GFP_DMA` or `GFP_DMA32` (default).
        UnlessDma = "unless_dma",
    }
}

knob! {
    /// `vmap_nowarn_honoured`: whether `__GFP_NOWARN` silences warning 3, "vmap allocation for
    /// size … failed" (semantics §4.2 step 4.3, semantics §11.1).
    ///
    /// - `yes` (default; ≈4.11+, present in 4.19): NOWARN silences it, like warnings 1 and 2.
    /// - `no` (≤≈4.10): warning 3 is recorded even under NOWARN; warnings 1 and 2 still
    ///   honour NOWARN. Only the vmalloc family can pass NOWARN to the VA search (`vmap` and
    ///   the `get_vm_area` family use `GFP_KERNEL`); a nested array's search sees the
    ///   caller's NOWARN through `nested_gfp`.
    pub enum VmapNowarnHonoured = "vmap_nowarn_honoured", default Yes {
        /// ≤≈4.10: warning 3 is printed whatever the gfp.
        No = "no",
        /// NOWARN silences warning 3 (default).
        Yes = "yes",
    }
}

/// The version knobs of one machine (semantics §13). `Default` is 4.19.y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Knobs {
    /// VA placement: exact lowest fit or the literal v4.19.0 search.
    pub faithful_4x_cache: Faithful4xCache,
    /// Whether a wrapped `ALIGN` candidate is no fit or BUGs.
    pub align_wrap_check: AlignWrapCheck,
    /// How `__vunmap` looks the area up.
    pub vunmap_lookup: VunmapLookup,
    /// The `VM_IOREMAP` alignment rule.
    pub ioremap_align_rule: IoremapAlignRule,
    /// Who adds `__GFP_HIGHMEM` to vmalloc's page requests.
    pub implicit_highmem: ImplicitHighmem,
    /// Whether `__GFP_NOWARN` silences warning 3.
    pub vmap_nowarn_honoured: VmapNowarnHonoured,
}

/// Why [`Knobs::set`] refused a `key=value` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnobError {
    /// No knob has this key.
    UnknownKey(String),
    /// The knob exists but has no value of this name.
    UnknownValue {
        /// The knob's key.
        key: &'static str,
        /// The value given.
        value: String,
        /// The accepted value names.
        expected: Vec<&'static str>,
    },
}

impl fmt::Display for KnobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobError::UnknownKey(k) => write!(
                f,
                "unknown version knob `{k}` (known: {})",
                Knobs::KEYS.join(", ")
            ),
            KnobError::UnknownValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "unknown value `{value}` for version knob `{key}` (expected one of: {})",
                expected.join(", ")
            ),
        }
    }
}

impl std::error::Error for KnobError {}

/// Parses `value` for knob `K`.
fn parse<K: Copy>(
    key: &'static str,
    all: &[K],
    name: fn(K) -> &'static str,
    value: &str,
) -> Result<K, KnobError> {
    all.iter()
        .copied()
        .find(|&k| name(k) == value)
        .ok_or_else(|| KnobError::UnknownValue {
            key,
            value: value.to_owned(),
            expected: all.iter().map(|&k| name(k)).collect(),
        })
}

impl Knobs {
    /// Every key, in the order of [`Knobs::entries`].
    pub const KEYS: [&'static str; 6] = [
        Faithful4xCache::KEY,
        AlignWrapCheck::KEY,
        VunmapLookup::KEY,
        IoremapAlignRule::KEY,
        ImplicitHighmem::KEY,
        VmapNowarnHonoured::KEY,
    ];

    /// The preset "v4.19.0 as shipped": `faithful_4x_cache=on`, `align_wrap_check=off`,
    /// `vunmap_lookup=find_vmap_area_deref`, the others at their 4.19 values (the defaults).
    pub const fn v4_19_0() -> Knobs {
        Knobs {
            faithful_4x_cache: Faithful4xCache::On,
            align_wrap_check: AlignWrapCheck::Off,
            vunmap_lookup: VunmapLookup::FindVmapAreaDeref,
            ioremap_align_rule: IoremapAlignRule::CountOrderAfterPagealign,
            implicit_highmem: ImplicitHighmem::UnlessDma,
            vmap_nowarn_honoured: VmapNowarnHonoured::Yes,
        }
    }

    /// A preset by its name: `4.19.0` ([`Knobs::v4_19_0`]) or `4.19.y` (the default).
    pub fn preset(name: &str) -> Option<Knobs> {
        match name {
            "4.19.0" => Some(Knobs::v4_19_0()),
            "4.19.y" => Some(Knobs::default()),
            _ => None,
        }
    }

    /// Sets one knob from its trace spelling, e.g. `set("faithful_4x_cache", "on")`.
    /// Nothing changes on error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), KnobError> {
        match key {
            Faithful4xCache::KEY => {
                self.faithful_4x_cache = parse(
                    Faithful4xCache::KEY,
                    Faithful4xCache::ALL,
                    Faithful4xCache::name,
                    value,
                )?
            }
            AlignWrapCheck::KEY => {
                self.align_wrap_check = parse(
                    AlignWrapCheck::KEY,
                    AlignWrapCheck::ALL,
                    AlignWrapCheck::name,
                    value,
                )?
            }
            VunmapLookup::KEY => {
                self.vunmap_lookup = parse(
                    VunmapLookup::KEY,
                    VunmapLookup::ALL,
                    VunmapLookup::name,
                    value,
                )?
            }
            IoremapAlignRule::KEY => {
                self.ioremap_align_rule = parse(
                    IoremapAlignRule::KEY,
                    IoremapAlignRule::ALL,
                    IoremapAlignRule::name,
                    value,
                )?
            }
            ImplicitHighmem::KEY => {
                self.implicit_highmem = parse(
                    ImplicitHighmem::KEY,
                    ImplicitHighmem::ALL,
                    ImplicitHighmem::name,
                    value,
                )?
            }
            VmapNowarnHonoured::KEY => {
                self.vmap_nowarn_honoured = parse(
                    VmapNowarnHonoured::KEY,
                    VmapNowarnHonoured::ALL,
                    VmapNowarnHonoured::name,
                    value,
                )?
            }
            _ => return Err(KnobError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// The value name of the knob `key`, if there is such a knob.
    pub fn get(&self, key: &str) -> Option<&'static str> {
        self.entries()
            .into_iter()
            .find(|&(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Every knob as `(key, value name)`, in the order of [`Knobs::KEYS`].
    pub fn entries(&self) -> [(&'static str, &'static str); 6] {
        [
            (Faithful4xCache::KEY, self.faithful_4x_cache.name()),
            (AlignWrapCheck::KEY, self.align_wrap_check.name()),
            (VunmapLookup::KEY, self.vunmap_lookup.name()),
            (IoremapAlignRule::KEY, self.ioremap_align_rule.name()),
            (ImplicitHighmem::KEY, self.implicit_highmem.name()),
            (VmapNowarnHonoured::KEY, self.vmap_nowarn_honoured.name()),
        ]
    }

    /// The knobs that differ from the default, as `(key, value name)` (what a trace prints).
    pub fn non_default(&self) -> Vec<(&'static str, &'static str)> {
        let d = Knobs::default().entries();
        self.entries()
            .into_iter()
            .zip(d)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_4_19_y() {
        let k = Knobs::default();
        assert_eq!(k.faithful_4x_cache, Faithful4xCache::Off);
        assert_eq!(k.align_wrap_check, AlignWrapCheck::On);
        assert_eq!(k.vunmap_lookup, VunmapLookup::FindVmArea);
        assert_eq!(
            k.ioremap_align_rule,
            IoremapAlignRule::CountOrderAfterPagealign
        );
        assert_eq!(k.implicit_highmem, ImplicitHighmem::UnlessDma);
        assert_eq!(k.vmap_nowarn_honoured, VmapNowarnHonoured::Yes);
        assert!(k.non_default().is_empty());
        assert_eq!(Knobs::preset("4.19.y"), Some(k));
    }

    #[test]
    fn v4_19_0_preset() {
        let k = Knobs::v4_19_0();
        assert_eq!(
            k.non_default(),
            vec![
                ("faithful_4x_cache", "on"),
                ("align_wrap_check", "off"),
                ("vunmap_lookup", "find_vmap_area_deref"),
            ]
        );
        assert_eq!(Knobs::preset("4.19.0"), Some(k));
        assert_eq!(Knobs::preset("4.19"), None);
    }

    #[test]
    fn names_round_trip() {
        fn check<K: Copy + PartialEq + fmt::Debug>(
            all: &[K],
            name: fn(K) -> &'static str,
            from: fn(&str) -> Option<K>,
        ) {
            for &k in all {
                assert_eq!(from(name(k)), Some(k));
            }
            assert_eq!(from("bogus"), None);
        }
        check(
            Faithful4xCache::ALL,
            Faithful4xCache::name,
            Faithful4xCache::from_name,
        );
        check(
            AlignWrapCheck::ALL,
            AlignWrapCheck::name,
            AlignWrapCheck::from_name,
        );
        check(
            VunmapLookup::ALL,
            VunmapLookup::name,
            VunmapLookup::from_name,
        );
        check(
            IoremapAlignRule::ALL,
            IoremapAlignRule::name,
            IoremapAlignRule::from_name,
        );
        check(
            ImplicitHighmem::ALL,
            ImplicitHighmem::name,
            ImplicitHighmem::from_name,
        );
        check(
            VmapNowarnHonoured::ALL,
            VmapNowarnHonoured::name,
            VmapNowarnHonoured::from_name,
        );
        assert_eq!(
            VunmapLookup::FindVmapAreaDeref.to_string(),
            "find_vmap_area_deref"
        );
    }

    #[test]
    fn set_and_get() {
        let mut k = Knobs::default();
        for (key, value) in Knobs::v4_19_0().entries() {
            k.set(key, value).unwrap();
        }
        assert_eq!(k, Knobs::v4_19_0());
        k.set("implicit_highmem", "unconditional").unwrap();
        assert_eq!(k.get("implicit_highmem"), Some("unconditional"));
        assert_eq!(k.get("nope"), None);
        let before = k;
        assert_eq!(
            k.set("nope", "on"),
            Err(KnobError::UnknownKey("nope".into()))
        );
        let e = k.set("align_wrap_check", "maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown value `maybe` for version knob `align_wrap_check` (expected one of: off, on)"
        );
        assert_eq!(k, before);
    }

    #[test]
    fn ioremap_alignment_rules() {
        use IoremapAlignRule::*;
        // 64 KiB: fls = fls_long = 17 (floor(log2) + 1) -> 128 KiB; ceil(log2) = 16 -> 64 KiB.
        assert_eq!(Fls.align(0x10000), 0x20000);
        assert_eq!(FlsLongBeforePagealign.align(0x10000), 0x20000);
        assert_eq!(CountOrderAfterPagealign.align(0x10000), 0x10000);
        // 0x11000: floor(log2) + 1 = 17 and ceil(log2) = 17: 128 KiB under every rule.
        for r in IoremapAlignRule::ALL {
            assert_eq!(r.align(0x11000), 0x20000);
        }
        // One byte: fls = 1, clamped to 12; PAGE_ALIGN = 4096, ceil(log2) = 12. One page:
        // fls(0x1000) = 13 -> 8 KiB (doubled) against 4 KiB.
        assert_eq!(Fls.align(1), 0x1000);
        assert_eq!(CountOrderAfterPagealign.align(1), 0x1000);
        assert_eq!(FlsLongBeforePagealign.align(0x1000), 0x2000);
        assert_eq!(CountOrderAfterPagealign.align(0x1000), 0x1000);
        // 4 GiB: the low 32 bits are 0, fls(0) = 0 -> 12 (bug 6); fls_long = 33 and
        // ceil(log2) = 32 are both clamped to 30 (1 GiB).
        assert_eq!(Fls.align(1 << 32), 0x1000);
        assert_eq!(FlsLongBeforePagealign.align(1 << 32), 1 << 30);
        assert_eq!(CountOrderAfterPagealign.align(1 << 32), 1 << 30);
        // 4 GiB + 4 KiB under fls: fls(0x1000) = 13 -> 8 KiB.
        assert_eq!(Fls.align((1 << 32) + 0x1000), 0x2000);
        // A size whose PAGE_ALIGN wraps: defined, never used (the request is NULL first).
        assert_eq!(CountOrderAfterPagealign.align(u64::MAX), 0x1000);
        assert_eq!(FlsLongBeforePagealign.align(u64::MAX), 1 << 30);
    }
}
