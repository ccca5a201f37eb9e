//! What `vmfuzz explain` prints at the first divergence: both sides' `/proc/vmallocinfo` and
//! page tables (the subject's walked from its frames), rendered alike and diffed.

use std::collections::BTreeMap;

use crate::adapter::model::ModelKernel;
use crate::exec::{self, RunOptions};
use crate::finding::diff_text;
use crate::ops::Input;
use crate::oracle::walk::{walk, WalkParams};
use crate::ptdump::render;
use crate::subject::{Expectations, Kernel};
use crate::subjects::Subject;

/// Both sides' `/proc/vmallocinfo` and page tables after ops `0..=k` of `input`, with diffs:
/// what `explain` prints at the first divergence.
pub fn explain_state(subject: &Subject, input: &Input, k: usize, opts: &RunOptions) -> String {
    let prefix = Input {
        machine: input.machine.clone(),
        ops: input.ops[..=k.min(input.ops.len().saturating_sub(1))].to_vec(),
    };
    let (Ok(mut engine), Ok(mut model)) = (
        (subject.make)(&input.machine, opts.planted.as_deref()),
        ModelKernel::new(&input.machine),
    ) else {
        return "cannot rebuild the machine".into();
    };
    let quiet = RunOptions {
        record: false,
        end_check: false,
        ..opts.clone()
    };
    let _ = exec::run_full(&prefix, &mut *engine, &mut model, &quiet);
    let m = &input.machine;
    let c = m.pte.masks().2;
    let params = WalkParams {
        paging: m.paging,
        sme_c_bit: c,
    };
    let leaves: BTreeMap<u64, u64> = match engine.raw() {
        Some(raw) => walk(raw, params).leaves.into_iter().collect(),
        None => BTreeMap::new(),
    };
    let expected = model.expected_ptes();
    let tables = |l: &BTreeMap<u64, u64>| {
        format!(
            "{}{}",
            render(l, "vmalloc() Area", m.vmalloc_start, m.vmalloc_end, c),
            render(l, "Modules", m.modules_vaddr, m.modules_end, c)
        )
    };
    let diff = |a: &str, b: &str| {
        if a == b {
            "(identical)\n".to_string()
        } else {
            format!("{}\n", diff_text(a, b))
        }
    };
    let (mi, ei) = (model.vmallocinfo(), engine.vmallocinfo());
    let (mt, et) = (tables(&expected), tables(&leaves));
    format!(
        "=== /proc/vmallocinfo after op {k}: model\n{mi}=== engine\n{ei}=== diff (< model | > engine)\n{}\n\
         === page tables after op {k}: model\n{mt}=== {} (walked from its frames)\n{et}=== diff\n{}",
        diff(&mi, &ei),
        engine.name(),
        diff(&mt, &et)
    )
}
