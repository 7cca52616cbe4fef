//! [`profile`]: libtorch's Kineto profiler over CPU operators, and [`OpProfile`], the per-operator
//! table of self times (`torch.profiler`'s `key_averages()`, self CPU column).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr};

use crate::ffi;

/// One recorded operator call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpEvent {
    /// The operator's name (`aten::addmm`, `autograd::engine::evaluate_function: MmBackward0`…).
    pub name: String,
    /// The thread it ran on.
    pub thread: u64,
    /// Start, nanoseconds.
    pub start_ns: u64,
    /// End, nanoseconds.
    pub end_ns: u64,
}

unsafe extern "C" fn collect(
    ctx: *mut c_void,
    name: *const c_char,
    thread: u64,
    start: u64,
    end: u64,
) {
    // SAFETY: `ctx` is the `Vec<OpEvent>` that `profile` passes, alive for the call; `name` is
    // a NUL-terminated string valid during the callback.
    let events = unsafe { &mut *ctx.cast::<Vec<OpEvent>>() };
    let name = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    events.push(OpEvent {
        name,
        thread,
        start_ns: start,
        end_ns: end.max(start),
    });
}

/// Runs `f` under the profiler and returns its result with every CPU operator it called.
pub fn profile<T>(f: impl FnOnce() -> T) -> Result<(T, Vec<OpEvent>), crate::Error> {
    // SAFETY: starts libtorch's profiler; stopped below on every path.
    if unsafe { ffi::tx_profiler_start() } != 0 {
        return Err(ffi::last_error());
    }
    let out = f();
    let mut events: Vec<OpEvent> = Vec::new();
    // SAFETY: `collect` only touches `events` through `ctx` during this call.
    let n = unsafe { ffi::tx_profiler_stop(collect, (&mut events as *mut Vec<OpEvent>).cast()) };
    if n < 0 {
        return Err(ffi::last_error());
    }
    Ok((out, events))
}

/// Totals of one operator name.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpStat {
    /// Calls.
    pub calls: u64,
    /// Time in the operator itself, not in operators it called, nanoseconds.
    pub self_ns: u64,
    /// Time from entry to exit, children included, nanoseconds.
    pub total_ns: u64,
}

/// Per-operator self and total times of a set of events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpProfile {
    /// Operator name → totals.
    pub ops: BTreeMap<String, OpStat>,
}

impl OpProfile {
    /// Sums `events`: an operator's self time is its interval minus those of the operators nested
    /// directly in it on the same thread.
    pub fn from_events(events: &[OpEvent]) -> Self {
        let mut by_thread: BTreeMap<u64, Vec<&OpEvent>> = BTreeMap::new();
        for e in events {
            by_thread.entry(e.thread).or_default().push(e);
        }
        let mut ops: BTreeMap<String, OpStat> = BTreeMap::new();
        for mut list in by_thread.into_values() {
            // Outer calls first: earlier start, then longer.
            list.sort_by_key(|e| (e.start_ns, std::cmp::Reverse(e.end_ns)));
            // Stack of (index, children's time).
            let mut stack: Vec<(usize, u64)> = Vec::new();
            let mut close = |stack: &mut Vec<(usize, u64)>, list: &[&OpEvent]| {
                let (i, children) = stack.pop().expect("non-empty stack");
                let e = list[i];
                let total = e.end_ns - e.start_ns;
                let stat = ops.entry(e.name.clone()).or_default();
                stat.calls += 1;
                stat.total_ns += total;
                stat.self_ns += total.saturating_sub(children);
                if let Some(parent) = stack.last_mut() {
                    parent.1 += total;
                }
            };
            for i in 0..list.len() {
                while let Some(&(top, _)) = stack.last() {
                    if list[top].end_ns <= list[i].start_ns {
                        close(&mut stack, &list);
                    } else {
                        break;
                    }
                }
                stack.push((i, 0));
            }
            while !stack.is_empty() {
                close(&mut stack, &list);
            }
        }
        Self { ops }
    }

    /// The sum of every operator's self time, nanoseconds.
    pub fn self_total_ns(&self) -> u64 {
        self.ops.values().map(|s| s.self_ns).sum()
    }

    /// Operators by descending self time.
    pub fn by_self_time(&self) -> Vec<(&str, OpStat)> {
        let mut rows: Vec<_> = self.ops.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        rows.sort_by(|a, b| b.1.self_ns.cmp(&a.1.self_ns).then(a.0.cmp(b.0)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn event(name: &str, start: u64, end: u64) -> OpEvent {
        OpEvent {
            name: name.into(),
            thread: 1,
            start_ns: start,
            end_ns: end,
        }
    }

    #[test]
    fn self_time_subtracts_nested_calls() {
        // linear [0,100) calls addmm [10,70) which calls copy [20,30); then mul [100,120).
        let events = [
            event("aten::addmm", 10, 70),
            event("aten::linear", 0, 100),
            event("aten::copy_", 20, 30),
            event("aten::mul", 100, 120),
        ];
        let p = OpProfile::from_events(&events);
        assert_eq!(p.ops["aten::linear"].self_ns, 40);
        assert_eq!(p.ops["aten::linear"].total_ns, 100);
        assert_eq!(p.ops["aten::addmm"].self_ns, 50);
        assert_eq!(p.ops["aten::copy_"].self_ns, 10);
        assert_eq!(p.ops["aten::mul"].self_ns, 20);
        assert_eq!(
            p.self_total_ns(),
            120,
            "self times add up to the outer span"
        );
        assert_eq!(p.by_self_time()[0].0, "aten::addmm");
    }

    #[test]
    fn the_profiler_records_a_matmul_and_its_backward() {
        let a = Tensor::randn([64, 64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let ((), events) = profile(|| {
            let y = a.matmul(&a).sum(Kind::Float);
            y.backward();
        })
        .unwrap();
        let p = OpProfile::from_events(&events);
        assert!(p.ops.contains_key("aten::mm"), "ops: {:?}", p.ops.keys());
        assert!(
            p.ops["aten::mm"].calls >= 3,
            "forward mm and two backward mms"
        );
        assert!(p.self_total_ns() > 0);
    }
}
