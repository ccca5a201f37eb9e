//! Deleting ops without changing what the others refer to: an op names live areas, caller
//! pages and freed areas by *slot* (`area#3`), an index into lists that depend on every earlier
//! op. [`reslot`] replays the kept ops on the model, and renumbers each op's slots so that they
//! name the same things (by the op that created them) as in the original input; an op whose
//! referent was deleted is deleted with it. The minimizer uses this to shrink traces that a
//! person can read.

use super::call::apply;
use super::tracker::{Origin, Tracker};
use crate::adapter::model::ModelKernel;
use crate::ops::Input;
use crate::subject::{Expectations, Kernel};

/// Run one op on the model and record it in the tracker. `false` when the machine is dead.
fn step(
    model: &mut ModelKernel,
    tracker: &mut Tracker,
    op: &crate::ops::Op,
    origin: usize,
    last: bool,
) -> bool {
    step_call(model, tracker, op, origin, last).0
}

/// As [`step`], also returning the call the op resolved to.
fn step_call(
    model: &mut ModelKernel,
    tracker: &mut Tracker,
    op: &crate::ops::Op,
    origin: usize,
    last: bool,
) -> (bool, Option<super::Call>) {
    let state = model.state();
    let arrays = model.array_areas();
    let Some(call) = tracker.resolve(op, &state, &arrays, last) else {
        return (true, None);
    };
    (run_call(model, tracker, &call, origin), Some(call))
}

/// Apply a resolved call to the model and record it in the tracker. `false` when the machine
/// is dead.
fn run_call(
    model: &mut ModelKernel,
    tracker: &mut Tracker,
    call: &super::Call,
    origin: usize,
) -> bool {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        apply(model, call, origin as u32)
    }));
    let Ok(Ok(outcome)) = result else {
        return false;
    };
    let _ = model.take_events();
    let (new_addr, new_pfn) = call.created(&outcome);
    tracker.update(call, new_addr, new_pfn, &model.state().busy, origin);
    true
}

/// The concrete calls a run of `input` makes, in order, the end-of-input cleanup included, as
/// the model resolves them: what a subject alone executes for this input (the benchmark's
/// "engine alone" replays these).
pub fn resolved_calls(input: &Input) -> Vec<super::Call> {
    let mut calls = Vec::new();
    let Ok(mut model) = ModelKernel::new(&input.machine) else {
        return calls;
    };
    let mut tracker = Tracker::new(&input.machine);
    let n = input.ops.len();
    for (i, op) in input.ops.iter().enumerate() {
        let (alive, call) = step_call(&mut model, &mut tracker, op, i, i + 1 == n);
        calls.extend(call);
        if !alive {
            return calls;
        }
    }
    for (k, call) in tracker.cleanup().into_iter().enumerate() {
        let alive = run_call(&mut model, &mut tracker, &call, input.ops.len() + k);
        calls.push(call);
        if !alive {
            break;
        }
    }
    calls
}

/// For each op of `input`, what its slots referred to when it ran on the model.
pub fn slot_origins(input: &Input) -> Vec<Vec<Origin>> {
    let mut out = vec![Vec::new(); input.ops.len()];
    let Ok(mut model) = ModelKernel::new(&input.machine) else {
        return out;
    };
    let mut tracker = Tracker::new(&input.machine);
    let n = input.ops.len();
    for (i, op) in input.ops.iter().enumerate() {
        out[i] = tracker.origins(op);
        if !step(&mut model, &mut tracker, op, i, i + 1 == n) {
            break;
        }
    }
    out
}

/// `input` with only the ops where `keep[i]` is set, slots renumbered to name the same areas
/// and pages as before; ops that named something no longer created are dropped too.
pub fn reslot(input: &Input, keep: &[bool]) -> Input {
    let origins = slot_origins(input);
    let mut ops = Vec::new();
    let Ok(mut model) = ModelKernel::new(&input.machine) else {
        return input.clone();
    };
    let mut tracker = Tracker::new(&input.machine);
    let last_kept = (0..input.ops.len())
        .rev()
        .find(|&i| keep.get(i).copied().unwrap_or(true));
    let mut alive = true;
    for (i, op) in input.ops.iter().enumerate() {
        if !keep.get(i).copied().unwrap_or(true) {
            continue;
        }
        if !alive {
            ops.push(op.clone());
            continue;
        }
        let Some(new_op) = tracker.reslot(op, &origins[i]) else {
            continue;
        };
        alive = step(&mut model, &mut tracker, &new_op, i, Some(i) == last_kept);
        ops.push(new_op);
    }
    Input {
        machine: input.machine.clone(),
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Addr, Op, VmallocApi};

    fn vmalloc(pages: u64) -> Op {
        Op::Vmalloc {
            api: VmallocApi::Vmalloc,
            size: pages * 4096,
        }
    }

    /// Deleting the first allocation shifts the live list: `vfree area#1` (the second area)
    /// must become `area#0`, and the write into the deleted area goes with it.
    #[test]
    fn deleting_an_op_renumbers_later_slots_and_drops_dependents() {
        let input = Input {
            machine: Default::default(),
            ops: vec![
                vmalloc(1),
                vmalloc(2),
                Op::Write {
                    slot: 0,
                    offset: 0,
                    len: 8,
                    seed: 1,
                },
                Op::Vfree {
                    addr: Addr::Area { slot: 1, offset: 0 },
                },
                Op::Vmallocinfo,
            ],
        };
        let out = reslot(&input, &[false, true, true, true, true]);
        assert_eq!(
            out.ops,
            vec![
                vmalloc(2),
                Op::Vfree {
                    addr: Addr::Area { slot: 0, offset: 0 }
                },
                Op::Vmallocinfo
            ]
        );
        // Keeping everything changes nothing.
        assert_eq!(reslot(&input, &[true; 5]), input);
    }
}
