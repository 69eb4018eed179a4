//! A linearizability checker in the style of Wing & Gong, with Lowe's memoisation as
//! Porcupine implements it.
//!
//! A history is a set of operations, each with an invocation time, a completion time
//! (or none, when the outcome is unknown: such an operation is treated as completing
//! after everything else) and whatever the model needs to step. The history is
//! linearizable if the operations can be put in one total order that respects real
//! time (an operation that completed before another was invoked comes first) and in
//! which every operation is a legal step of the sequential model.
//!
//! The search walks the invocation/completion events in time order. At an invocation
//! it tries to linearize that operation now (for each next state the model allows); at
//! a completion of an operation not yet linearized it backtracks. Every (set of
//! linearized operations, model state) pair it reaches is remembered, and reaching one
//! again prunes the branch — so the work is bounded by the number of distinct
//! configurations rather than by the number of orders. A step budget bounds it anyway:
//! past it the answer is [`Linearizability::GaveUp`].
//!
//! Models may be nondeterministic: [`Model::step`] returns every state the operation
//! could lead to. An operation whose outcome is unknown is [`Model::optional`]: the
//! search may linearize it (anywhere after its invocation: its completion is taken to
//! be after everything else) or leave it out, which is "it never took effect"; the
//! history is linearizable once every other operation is placed.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

/// An operation's place in real time, in nanoseconds from any fixed origin.
pub trait Timed {
    /// When it was invoked.
    fn call_ns(&self) -> u64;
    /// When it completed, or `None` if its outcome is unknown (it may complete at any
    /// later time, or never).
    fn return_ns(&self) -> Option<u64>;
}

/// A sequential specification.
pub trait Model {
    /// One recorded operation: what was asked and what came back.
    type Op: Timed;
    /// The state of the object.
    type State: Clone + Eq + Hash + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Pushes onto `next` every state `op` may lead to from `state`; pushes nothing if
    /// `op` (with its recorded outcome) is impossible in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op, next: &mut Vec<Self::State>);

    /// Whether `op` may be left out of the linearization altogether: an operation whose
    /// outcome is unknown and which, if it happened, was a write. Leaving it out is how
    /// "it never took effect" is modelled, so [`step`](Self::step) need only describe
    /// its effect — which keeps the search from doubling at every unknown operation.
    fn optional(&self, _op: &Self::Op) -> bool {
        false
    }
}

/// Where a failed search got furthest: the operation that had to be linearized before
/// its completion but could not be, after the longest prefix the search ever found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// Index (into the checked slice) of the operation that could not be linearized.
    pub op: usize,
    /// The longest legal prefix found, as operation indices in linearization order.
    pub prefix: Vec<usize>,
    /// The model state after that prefix (debug form).
    pub state: String,
}

/// The answer of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linearizability {
    /// A legal order exists.
    Linearizable {
        /// Search steps used.
        steps: u64,
    },
    /// No legal order exists.
    NotLinearizable {
        /// Search steps used.
        steps: u64,
        /// Where the search got furthest.
        stuck: Stuck,
    },
    /// The step budget ran out before the search could decide.
    GaveUp {
        /// Search steps used (the budget).
        steps: u64,
    },
}

impl Linearizability {
    /// Search steps used.
    pub fn steps(&self) -> u64 {
        match self {
            Linearizability::Linearizable { steps }
            | Linearizability::NotLinearizable { steps, .. }
            | Linearizability::GaveUp { steps } => *steps,
        }
    }
}

/// A fixed-size set of operation indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

const NIL: usize = usize::MAX;

/// The events of a history as a doubly linked list that operations can be lifted out
/// of and put back into in LIFO order (dancing links).
struct Events {
    /// Operation of each event.
    op: Vec<usize>,
    /// Whether the event is an invocation.
    is_call: Vec<bool>,
    /// For an invocation, its completion event.
    completion: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The sentinel before the first event.
    head: usize,
}

impl Events {
    fn new<O: Timed>(ops: &[O]) -> Self {
        // (time, 0 for invocation / 1 for completion, op): on equal times invocations
        // come first, which treats touching operations as concurrent — the permissive
        // choice, so a tie can never produce a false "not linearizable".
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call_ns(), 0, i));
            order.push((op.return_ns().unwrap_or(u64::MAX), 1, i));
        }
        order.sort_unstable();
        let count = order.len();
        let head = count;
        let mut events = Self {
            op: vec![0; count],
            is_call: vec![false; count],
            completion: vec![NIL; count],
            next: vec![NIL; count + 1],
            prev: vec![NIL; count + 1],
            head,
        };
        let mut call_of = vec![NIL; ops.len()];
        for (position, &(_, kind, op)) in order.iter().enumerate() {
            events.op[position] = op;
            events.is_call[position] = kind == 0;
            if kind == 0 {
                call_of[op] = position;
            } else {
                events.completion[call_of[op]] = position;
            }
        }
        let mut last = head;
        for position in 0..count {
            events.next[last] = position;
            events.prev[position] = last;
            last = position;
        }
        events
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    /// Removes an invocation and its completion.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.completion[call]);
    }

    /// Undoes the matching [`lift`](Self::lift) (must be the most recent one still in
    /// effect).
    fn unlift(&mut self, call: usize) {
        self.relink(self.completion[call]);
        self.relink(call);
    }
}

/// Decides whether `ops` is linearizable with respect to `model`, using at most
/// `budget` search steps.
pub fn check<M: Model>(model: &M, ops: &[M::Op], budget: u64) -> Linearizability {
    let mut events = Events::new(ops);
    let mut state = model.init();
    let mut linearized = Bits::new(ops.len());
    let mut seen: HashSet<(Bits, M::State)> = HashSet::new();
    // (invocation event, state before it, index of the successor taken)
    let mut stack: Vec<(usize, M::State, usize)> = Vec::new();
    let mut successors = Vec::new();
    let mut cursor = events.first();
    let mut first_successor = 0;
    let mut steps = 0u64;
    let mut deepest: Option<Stuck> = None;
    let optional: Vec<bool> = ops.iter().map(|op| model.optional(op)).collect();
    // Operations still to place; optional ones never have to be.
    let mut required = optional.iter().filter(|o| !**o).count();
    while required > 0 {
        steps += 1;
        if steps > budget {
            return Linearizability::GaveUp { steps: budget };
        }
        let op = events.op[cursor];
        if events.is_call[cursor] {
            successors.clear();
            model.step(&state, &ops[op], &mut successors);
            let mut advanced = false;
            for (k, next) in successors.iter().enumerate().skip(first_successor) {
                let mut with_op = linearized.clone();
                with_op.set(op);
                if seen.insert((with_op.clone(), next.clone())) {
                    let before = std::mem::replace(&mut state, next.clone());
                    stack.push((cursor, before, k));
                    linearized = with_op;
                    events.lift(cursor);
                    if !optional[op] {
                        required -= 1;
                    }
                    advanced = true;
                    break;
                }
            }
            first_successor = 0;
            cursor = if advanced {
                events.first()
            } else {
                events.next[cursor]
            };
        } else if optional[op] {
            // An optional operation need not be placed before it completes.
            cursor = events.next[cursor];
        } else {
            // A completion of an operation not yet linearized: every order from here
            // puts it after something invoked later than it completed. Backtrack.
            if deepest
                .as_ref()
                .is_none_or(|d| stack.len() > d.prefix.len())
            {
                deepest = Some(Stuck {
                    op,
                    prefix: stack.iter().map(|(call, _, _)| events.op[*call]).collect(),
                    state: format!("{state:?}"),
                });
            }
            let Some((call, before, k)) = stack.pop() else {
                let stuck = deepest.unwrap_or(Stuck {
                    op,
                    prefix: Vec::new(),
                    state: format!("{state:?}"),
                });
                return Linearizability::NotLinearizable { steps, stuck };
            };
            state = before;
            let undone = events.op[call];
            linearized.clear(undone);
            if !optional[undone] {
                required += 1;
            }
            events.unlift(call);
            cursor = call;
            first_successor = k + 1;
        }
    }
    Linearizability::Linearizable { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain read/write register over integers, to test the search on its own.
    struct IntRegister;

    #[derive(Debug, Clone)]
    struct Op {
        call: u64,
        ret: Option<u64>,
        write: bool,
        value: u32,
    }

    impl Timed for Op {
        fn call_ns(&self) -> u64 {
            self.call
        }
        fn return_ns(&self) -> Option<u64> {
            self.ret
        }
    }

    impl Model for IntRegister {
        type Op = Op;
        type State = u32;
        fn init(&self) -> u32 {
            0
        }
        fn step(&self, state: &u32, op: &Op, next: &mut Vec<u32>) {
            match op.write {
                true => next.push(op.value),
                false if op.value == *state => next.push(*state),
                false => {}
            }
        }
        fn optional(&self, op: &Op) -> bool {
            op.write && op.ret.is_none()
        }
    }

    fn w(call: u64, ret: u64, value: u32) -> Op {
        Op {
            call,
            ret: Some(ret),
            write: true,
            value,
        }
    }
    fn r(call: u64, ret: u64, value: u32) -> Op {
        Op {
            call,
            ret: Some(ret),
            write: false,
            value,
        }
    }

    #[test]
    fn empty_history_is_linearizable() {
        assert!(matches!(
            check(&IntRegister, &[], 10),
            Linearizability::Linearizable { .. }
        ));
    }

    #[test]
    fn concurrent_writes_may_be_ordered_either_way() {
        // w1 and w2 overlap; reads after both see 2 then... only one final value.
        let ops = [w(0, 10, 1), w(1, 11, 2), r(12, 13, 1), r(14, 15, 1)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::Linearizable { .. }
        ));
        let ops = [w(0, 10, 1), w(1, 11, 2), r(12, 13, 1), r(14, 15, 2)];
        let result = check(&IntRegister, &ops, 1000);
        let Linearizability::NotLinearizable { stuck, .. } = result else {
            panic!("expected a violation, got {result:?}");
        };
        assert_eq!(stuck.op, 3, "the second read cannot follow the first");
    }

    #[test]
    fn real_time_order_is_respected() {
        // The read completes before the write is invoked, so it cannot see it.
        let ops = [r(0, 5, 7), w(6, 10, 7)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::NotLinearizable { .. }
        ));
        // Overlapping, it may.
        let ops = [r(0, 7, 7), w(6, 10, 7)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::Linearizable { .. }
        ));
    }

    #[test]
    fn unknown_writes_may_be_left_out() {
        let unknown = Op {
            call: 0,
            ret: None,
            write: true,
            value: 9,
        };
        // Never seen: left out.
        let ops = [unknown.clone(), r(5, 6, 0), r(7, 8, 0)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::Linearizable { .. }
        ));
        // Seen late.
        let ops = [unknown.clone(), r(5, 6, 0), w(7, 8, 1), r(9, 10, 9)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::Linearizable { .. }
        ));
        // Seen, then gone without another write.
        let ops = [unknown, r(5, 6, 9), r(7, 8, 0)];
        assert!(matches!(
            check(&IntRegister, &ops, 1000),
            Linearizability::NotLinearizable { .. }
        ));
    }

    #[test]
    fn budget_is_enforced() {
        let ops: Vec<Op> = (0..30).map(|i| w(0, 100, i)).collect();
        assert_eq!(
            check(&IntRegister, &ops, 3),
            Linearizability::GaveUp { steps: 3 }
        );
    }
}
