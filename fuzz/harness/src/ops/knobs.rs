//! Version knobs in harness terms (semantics §13, design §5.7): the behaviours that changed
//! inside 4.x, selectable per machine and written `key=value` on a trace's `machine` line,
//! with the preset `kernel=4.19.0` for v4.19.0 as shipped. The harness keeps its own table of
//! keys and values (the engine and the model each have their own types, design §2); the
//! adapters hand each side the same `key=value` pairs, and a side that refuses one refuses the
//! machine.
//!
//! The default of every knob is 4.x canonical (4.19.y). Where the default departs from every
//! released 4.x kernel: VA placement is exact lowest fit, where v4.19.0 and, as far as is
//! known, every 4.x release test the search cache with a strict `<` and so place about 0.5–2.5%
//! of allocations higher or fail them spuriously (`faithful_4x_cache`, semantics §4.4); the
//! default is the rule that kernel code means, and the knob gives the shipped one.

/// One knob: its key, its values (the default first), and a short description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knob {
    /// The trace key.
    pub key: &'static str,
    /// Its values, the default first.
    pub values: &'static [&'static str],
    /// What it selects.
    pub about: &'static str,
}

/// Every knob, in the order a trace prints them.
pub const KNOBS: [Knob; 6] = [
    Knob {
        key: "faithful_4x_cache",
        values: &["off", "on"],
        about: "VA placement: exact lowest fit, or the v4.19.0 search with its strict cache test",
    },
    Knob {
        key: "align_wrap_check",
        values: &["on", "off"],
        about: "a wrapped ALIGN is no fit, or v4.19.0's BUG at mm/vmalloc.c:512",
    },
    Knob {
        key: "vunmap_lookup",
        values: &["find_vm_area", "find_vmap_area_deref", "remove_first"],
        about: "__vunmap's lookup: 4.19.126+, 4.18-4.19.125 (oopses on an unknown address), <=4.17",
    },
    Knob {
        key: "ioremap_align_rule",
        values: &[
            "count_order_after_pagealign",
            "fls_long_before_pagealign",
            "fls",
        ],
        about: "VM_IOREMAP alignment: 4.9+, 4.1-4.8 (bug 8), <=4.0 (bug 6)",
    },
    Knob {
        key: "implicit_highmem",
        values: &["unless_dma", "unconditional", "caller_provided"],
        about: "__GFP_HIGHMEM on vmalloc pages: 4.13+, 4.12 (bug 9: vmalloc_32 BUGs), <=4.11",
    },
    Knob {
        key: "vmap_nowarn_honoured",
        values: &["yes", "no"],
        about: "whether __GFP_NOWARN silences warning 3 (no before ~4.10)",
    },
];

/// The preset names `kernel=` takes.
pub const PRESETS: [&str; 2] = ["4.19.0", "4.19.y"];

/// A machine's knob settings: for each knob of [`KNOBS`], the index of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Knobs([u8; 6]);

impl Knobs {
    /// v4.19.0 as shipped: `faithful_4x_cache=on`, `align_wrap_check=off`,
    /// `vunmap_lookup=find_vmap_area_deref`, the others at their (4.19) defaults.
    pub const V4_19_0: Knobs = Knobs([1, 1, 1, 0, 0, 0]);

    /// The preset of this name.
    pub fn preset(name: &str) -> Option<Knobs> {
        match name {
            "4.19.0" => Some(Knobs::V4_19_0),
            "4.19.y" => Some(Knobs::default()),
            _ => None,
        }
    }

    /// The preset these knobs equal, if any other than the default.
    pub fn preset_name(&self) -> Option<&'static str> {
        (*self == Knobs::V4_19_0).then_some("4.19.0")
    }

    /// Set knob `key` to `value`; the error says what is accepted.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let Some(i) = KNOBS.iter().position(|k| k.key == key) else {
            return Err(format!("unknown knob `{key}`"));
        };
        let k = KNOBS[i];
        let Some(v) = k.values.iter().position(|&v| v == value) else {
            return Err(format!(
                "knob {key} takes {}, not `{value}`",
                k.values.join(", ")
            ));
        };
        self.0[i] = v as u8;
        Ok(())
    }

    /// The value of knob `key`.
    pub fn get(&self, key: &str) -> Option<&'static str> {
        let i = KNOBS.iter().position(|k| k.key == key)?;
        KNOBS[i].values.get(usize::from(self.0[i])).copied()
    }

    /// Every knob as `(key, value)`.
    pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
        KNOBS
            .iter()
            .zip(self.0)
            .map(|(k, v)| (k.key, k.values[usize::from(v) % k.values.len()]))
            .collect()
    }

    /// The knobs off their default, as `(key, value)`.
    pub fn non_default(&self) -> Vec<(&'static str, &'static str)> {
        self.entries()
            .into_iter()
            .zip(KNOBS)
            .filter(|((_, v), k)| *v != k.values[0])
            .map(|(e, _)| e)
            .collect()
    }

    /// The value index of each knob (what the codec writes).
    pub fn indices(&self) -> [u8; 6] {
        self.0
    }

    /// Knobs from value indices, each taken modulo its knob's number of values.
    pub fn from_indices(ix: [u8; 6]) -> Knobs {
        let mut k = [0u8; 6];
        for ((slot, v), knob) in k.iter_mut().zip(ix).zip(KNOBS) {
            *slot = v % knob.values.len() as u8;
        }
        Knobs(k)
    }

    /// Under `vunmap_lookup=find_vmap_area_deref`, a free of an address in no busy VA oopses
    /// (semantics R10): the generator then frees such addresses only as an input's last op.
    pub fn free_in_no_area_oopses(&self) -> bool {
        self.get("vunmap_lookup") == Some("find_vmap_area_deref")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_names_and_indices() {
        let mut k = Knobs::default();
        assert!(k.non_default().is_empty());
        k.set("faithful_4x_cache", "on").unwrap();
        k.set("align_wrap_check", "off").unwrap();
        k.set("vunmap_lookup", "find_vmap_area_deref").unwrap();
        assert_eq!(k, Knobs::V4_19_0);
        assert_eq!(k.preset_name(), Some("4.19.0"));
        assert!(k.set("nope", "on").unwrap_err().contains("unknown knob"));
        assert!(k
            .set("faithful_4x_cache", "maybe")
            .unwrap_err()
            .contains("off, on"));
        assert_eq!(Knobs::from_indices(k.indices()), k);
        assert_eq!(Knobs::from_indices([7; 6]).indices(), [1, 1, 1, 1, 1, 1]);
        assert!(k.free_in_no_area_oopses());
    }
}
