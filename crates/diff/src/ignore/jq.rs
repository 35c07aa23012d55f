//! `jqPathExpressions`: jq filters whose paths Argo CD deletes (it runs
//! `del(<expression>)` with gojq). Here each expression is compiled once, as
//! `path(<expression>)` with jaq, and evaluated to the list of paths it
//! yields, so the same paths can be removed for a diff or copied from the
//! live object for `RespectIgnoreDifferences`.
//!
//! # Keeping a runaway expression from hanging the caller
//!
//! jaq has no cancellation, and an expression is user input: `def f: f; f`
//! loops forever without yielding, `def f: f | f; f` recurses until the
//! stack overflows (which aborts the process, it is not a panic), and
//! `[range(1e12)]` runs for hours inside a single native filter. So:
//!
//! 1. Evaluation runs on a dedicated worker thread with a known stack size,
//!    and the caller waits for each result for the time limit (Argo CD's
//!    default is 1 s) plus a short grace. Whatever the worker does, the
//!    caller gets a [`DiffError::JqTimeout`] in bounded time.
//! 2. Inside the worker, every step of the interpreter passes through a
//!    guard: jaq looks up each term of the program through the data type it
//!    runs with, and that lookup is ours. The guard checks the deadline and
//!    how much of the worker's stack is in use; past either, it unwinds the
//!    evaluation (`resume_unwind`, which the worker catches) so a runaway
//!    worker stops promptly instead of spinning on after the caller gave up,
//!    and deep recursion becomes an error instead of a stack overflow.
//!    `range`, the one native generator that can run long without coming
//!    back to the interpreter, is replaced by a guarded version.
//!
//! What the guard cannot bound is a single native operation that allocates
//! without limit (`"x" * 1e12` asks for a terabyte at once). Builds with
//! `panic = "abort"` cannot unwind, so there the guard is off: the caller
//! still gets its timeout, but the worker runs on until it finishes.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use jaq_core::data::{DataT, HasLut};
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::native::{self, Fun};
use jaq_core::{Compiler, Ctx, Cv, Exn, Lut, ValXs, Vars};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;

use super::path::{self, FieldPath};
use crate::DiffError;

/// How long one expression may run on one object, as Argo CD's default
/// (`controller.ignore.normalizer.jq.timeout`).
pub const DEFAULT_JQ_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the caller waits past the time limit before it stops waiting
/// for a worker the guard could not stop.
const GRACE: Duration = Duration::from_millis(250);

/// The worker's stack. Only touched pages are committed, so this is address
/// space, not memory.
const WORKER_STACK: usize = 64 << 20;

/// How much of the worker's stack an evaluation may use before the guard
/// stops it, leaving room for the frames between two guard checks.
const STACK_BUDGET: usize = 48 << 20;

/// The most paths one expression may yield on one object; a path expression
/// on a Kubernetes object yields a handful.
const MAX_PATHS: usize = 100_000;

// === compile ===

/// One compiled `jqPathExpressions` entry.
#[derive(Clone)]
pub(crate) struct JqPath {
    source: String,
    filter: Arc<jaq_core::Filter<Guarded>>,
}

impl fmt::Debug for JqPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqPath").field(&self.source).finish()
    }
}

impl JqPath {
    /// Compiles `expression` as the argument of `path(…)`.
    pub(crate) fn compile(expression: &str) -> Result<Self, DiffError> {
        let invalid = |reason: String| DiffError::InvalidJqExpression {
            expression: expression.to_owned(),
            reason,
        };
        // Newlines keep a trailing `# comment` from swallowing the `)`.
        let code = format!("path(\n{expression}\n)");
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: code.as_str(),
                    path: (),
                },
            )
            .map_err(|errs| invalid(describe_load_errors(errs)))?;
        let filter = Compiler::default()
            .with_funs(funs())
            .compile(modules)
            .map_err(|errs| {
                let undefined: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, errs)| errs)
                    .map(|(name, what)| format!("undefined {} {name}", describe_undefined(&what)))
                    .collect();
                invalid(undefined.join(", "))
            })?;
        Ok(Self {
            source: expression.to_owned(),
            filter: Arc::new(filter),
        })
    }

    /// The expression as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

fn describe_load_errors(errs: load::Errors<&str, ()>) -> String {
    let trim = |rest: &str| {
        let rest = rest.trim_end();
        let rest = rest.strip_suffix(')').unwrap_or(rest).trim();
        if rest.is_empty() {
            "the end".to_owned()
        } else {
            format!("{:?}", rest.chars().take(40).collect::<String>())
        }
    };
    let mut out = Vec::new();
    for (_, err) in errs {
        match err {
            load::Error::Io(errs) => out.extend(errs.into_iter().map(|(_, e)| e)),
            load::Error::Lex(errs) => out.extend(errs.into_iter().map(|(expect, rest)| {
                let what = match expect {
                    load::lex::Expect::Delim(d) => format!("a closing delimiter for {d:?}"),
                    other => other.as_str().to_owned(),
                };
                format!("expected {what} at {}", trim(rest))
            })),
            load::Error::Parse(errs) => {
                out.extend(errs.into_iter().map(|(expect, rest)| {
                    format!("expected {} at {}", expect.as_str(), trim(rest))
                }))
            }
        }
    }
    out.join(", ")
}

fn describe_undefined(what: &jaq_core::compile::Undefined) -> String {
    use jaq_core::compile::Undefined;
    match what {
        Undefined::Mod => "module".to_owned(),
        Undefined::Var => "variable".to_owned(),
        Undefined::Label => "label".to_owned(),
        Undefined::Filter(arity) => format!("filter with {arity} argument(s):"),
        _ => "name".to_owned(),
    }
}

/// jq's standard library, with `range/3` swapped for the guarded version.
fn funs() -> impl Iterator<Item = Fun<Guarded>> {
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, args, _)| !(*name == "range" && args.len() == 3))
        .chain([native::run::<Guarded>((
            "range",
            native::v(3),
            guarded_range,
        ))])
}

/// `range($from; $upto; $by)`, checking the guard before every value.
fn guarded_range<'a>(mut cv: Cv<'a, Guarded>) -> ValXs<'a, Val> {
    use std::cmp::Ordering;
    let by = cv.0.pop_var();
    let upto = cv.0.pop_var();
    let from = cv.0.pop_var();
    let direction = by
        .partial_cmp(&Val::from(0isize))
        .unwrap_or(Ordering::Equal);
    let mut next = Some(Ok(from));
    Box::new(std::iter::from_fn(move || {
        guard::check();
        let current = match next.take()? {
            Ok(current) => current,
            Err(e) => return Some(Err(e)),
        };
        let more = match direction {
            Ordering::Greater => current < upto,
            Ordering::Less => current > upto,
            Ordering::Equal => current != upto,
        };
        if !more {
            return None;
        }
        next = Some((current.clone() + by.clone()).map_err(Exn::from));
        Some(Ok(current))
    }))
}

// === the guarded data type ===

/// jaq's data type for our filters: JSON values, and a term table whose
/// every lookup passes through [`guard::check`].
pub(crate) struct Guarded;

impl DataT for Guarded {
    type V<'a> = Val;
    type Data<'a> = GuardedLut<'a>;
}

#[derive(Clone)]
pub(crate) struct GuardedLut<'a>(&'a Lut<Guarded>);

impl<'a> HasLut<'a, Guarded> for GuardedLut<'a> {
    fn lut(&self) -> &'a Lut<Guarded> {
        guard::check();
        self.0
    }
}

mod guard {
    use super::*;

    /// Why the guard stopped an evaluation.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Interrupt {
        Timeout,
        TooDeep,
    }

    #[derive(Clone, Copy)]
    struct Armed {
        deadline: Instant,
        stack_base: usize,
        steps: u32,
    }

    thread_local! {
        static ARMED: Cell<Option<Armed>> = const { Cell::new(None) };
    }

    /// The address of a local of the calling frame: how deep the stack is.
    #[inline(always)]
    pub(super) fn stack_position() -> usize {
        let probe = 0u8;
        std::ptr::from_ref(std::hint::black_box(&probe)).addr()
    }

    pub(super) fn arm(deadline: Instant, stack_base: usize) {
        ARMED.set(Some(Armed {
            deadline,
            stack_base,
            steps: 0,
        }));
    }

    pub(super) fn disarm() {
        ARMED.set(None);
    }

    /// Stops the evaluation on this thread if it ran out of time or stack.
    /// Does nothing where no evaluation is armed.
    pub(super) fn check() {
        let Some(mut armed) = ARMED.get() else {
            return;
        };
        if stack_position().abs_diff(armed.stack_base) > STACK_BUDGET {
            interrupt(Interrupt::TooDeep);
        }
        armed.steps = armed.steps.wrapping_add(1);
        // Reading the clock every step would dominate cheap steps.
        if armed.steps % 64 == 0 && Instant::now() >= armed.deadline {
            interrupt(Interrupt::Timeout);
        }
        ARMED.set(Some(armed));
    }

    #[cfg(panic = "unwind")]
    fn interrupt(why: Interrupt) {
        disarm();
        // resume_unwind skips the panic hook: this is control flow, not a bug.
        panic::resume_unwind(Box::new(why));
    }

    #[cfg(not(panic = "unwind"))]
    fn interrupt(_: Interrupt) {}
}

// === evaluation ===

/// What a worker reports for one evaluation.
enum Outcome {
    Paths(Vec<Vec<Value>>),
    /// jq raised an error (`.[]` on null, …): like Argo CD, the expression
    /// then removes nothing.
    Failed,
    Interrupted(guard::Interrupt),
    TooManyPaths,
}

struct Request {
    filter: Arc<jaq_core::Filter<Guarded>>,
    input: Val,
    deadline: Instant,
}

struct Worker {
    requests: mpsc::Sender<Request>,
    outcomes: mpsc::Receiver<Outcome>,
}

/// Evaluates expressions for one normalization, on one worker thread started
/// on first use and stopped when this is dropped.
pub(crate) struct Evaluator {
    limit: Duration,
    worker: Option<Worker>,
}

impl Evaluator {
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            limit,
            worker: None,
        }
    }

    /// The paths `expression` yields on `doc` that lead to existing values.
    pub(crate) fn paths(
        &mut self,
        expression: &JqPath,
        doc: &Value,
    ) -> Result<Vec<FieldPath>, DiffError> {
        let input = Val::deserialize(doc).map_err(|e| DiffError::JqWorker {
            reason: format!("converting the object for jq: {e}"),
        })?;
        let request = Request {
            filter: Arc::clone(&expression.filter),
            input,
            deadline: Instant::now() + self.limit,
        };
        let worker = match &mut self.worker {
            Some(worker) => worker,
            None => self.worker.insert(spawn()?),
        };
        let outcome = worker
            .requests
            .send(request)
            .ok()
            .map(|()| worker.outcomes.recv_timeout(self.limit + GRACE));
        let timeout = || DiffError::JqTimeout {
            expression: expression.source().to_owned(),
            limit: self.limit,
        };
        let outcome = match outcome {
            Some(Ok(outcome)) => outcome,
            Some(Err(RecvTimeoutError::Timeout)) => {
                // The worker is stuck where the guard cannot reach; leave it
                // behind and start a fresh one next time.
                self.worker = None;
                return Err(timeout());
            }
            Some(Err(RecvTimeoutError::Disconnected)) | None => {
                self.worker = None;
                return Err(DiffError::JqWorker {
                    reason: format!(
                        "the jq worker stopped while evaluating {:?}",
                        expression.source()
                    ),
                });
            }
        };
        match outcome {
            Outcome::Paths(raw) => Ok(raw
                .iter()
                .filter_map(|steps| path::resolve_jq(doc, steps))
                .collect()),
            Outcome::Failed => Ok(Vec::new()),
            Outcome::Interrupted(guard::Interrupt::Timeout) => Err(timeout()),
            Outcome::Interrupted(guard::Interrupt::TooDeep) => Err(DiffError::JqLimitExceeded {
                expression: expression.source().to_owned(),
                limit: "recursion too deep".to_owned(),
            }),
            Outcome::TooManyPaths => Err(DiffError::JqLimitExceeded {
                expression: expression.source().to_owned(),
                limit: format!("more than {MAX_PATHS} paths"),
            }),
        }
    }
}

fn spawn() -> Result<Worker, DiffError> {
    let (requests, inbox) = mpsc::channel::<Request>();
    let (outbox, outcomes) = mpsc::channel();
    thread::Builder::new()
        .name("caravel-jq".to_owned())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            for request in inbox {
                if outbox.send(evaluate(request)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| DiffError::JqWorker {
            reason: format!("starting the jq worker: {e}"),
        })?;
    Ok(Worker { requests, outcomes })
}

/// Runs one evaluation under the guard. Runs on the worker thread.
fn evaluate(request: Request) -> Outcome {
    let Request {
        filter,
        input,
        deadline,
    } = request;
    guard::arm(deadline, guard::stack_position());
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let ctx = Ctx::<Guarded>::new(GuardedLut(&filter.lut), Vars::new([]));
        let mut paths = Vec::new();
        for output in filter.id.run((ctx, input)) {
            guard::check();
            let Ok(path) = jaq_core::unwrap_valr(output) else {
                return Outcome::Failed;
            };
            let Ok(Value::Array(steps)) = serde_json::from_str::<Value>(&path.to_string()) else {
                return Outcome::Failed;
            };
            if paths.len() == MAX_PATHS {
                return Outcome::TooManyPaths;
            }
            paths.push(steps);
        }
        Outcome::Paths(paths)
    }));
    guard::disarm();
    match result {
        Ok(outcome) => outcome,
        Err(payload) => match payload.downcast::<guard::Interrupt>() {
            Ok(why) => Outcome::Interrupted(*why),
            // A panic inside jaq itself: the expression removes nothing, and
            // the controller keeps running.
            Err(_) => Outcome::Failed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::path::PathSegment;
    use serde_json::json;

    fn key(k: &str) -> PathSegment {
        PathSegment::Key(k.to_owned())
    }

    fn paths_of(expression: &str, doc: &Value) -> Result<Vec<FieldPath>, DiffError> {
        Evaluator::new(DEFAULT_JQ_TIMEOUT).paths(&JqPath::compile(expression)?, doc)
    }

    #[test]
    fn a_select_on_containers_yields_the_matching_element() -> Result<(), DiffError> {
        let doc = json!({"spec": {"template": {"spec": {"initContainers": [
            {"name": "migrate"}, {"name": "injected"}]}}}});
        assert_eq!(
            paths_of(
                r#".spec.template.spec.initContainers[] | select(.name == "injected")"#,
                &doc
            )?,
            vec![vec![
                key("spec"),
                key("template"),
                key("spec"),
                key("initContainers"),
                PathSegment::Index(1)
            ]]
        );
        Ok(())
    }

    #[test]
    fn paths_to_absent_fields_and_runtime_errors_remove_nothing() -> Result<(), DiffError> {
        let doc = json!({"spec": {}});
        assert!(paths_of(".metadata.annotations.x", &doc)?.is_empty());
        assert!(
            paths_of(r#".spec.containers[] | select(.name == "x")"#, &doc)?.is_empty(),
            "iterating over null is an error in jq, which Argo CD skips"
        );
        Ok(())
    }

    #[test]
    fn a_trailing_comment_does_not_break_the_expression() -> Result<(), DiffError> {
        let doc = json!({"a": 1});
        assert_eq!(paths_of(".a # the a field", &doc)?, vec![vec![key("a")]]);
        Ok(())
    }

    #[test]
    fn an_invalid_expression_is_an_error_naming_it() {
        for (expression, reason) in [
            (
                ".spec.containers[",
                "expected a closing delimiter for \"[\"",
            ),
            (".spec | ", "expected term"),
            (
                "nosuchfilter(1)",
                "undefined filter with 1 argument(s): nosuchfilter",
            ),
        ] {
            match JqPath::compile(expression) {
                Err(DiffError::InvalidJqExpression {
                    expression: named,
                    reason: got,
                }) => {
                    assert_eq!(named, expression);
                    assert!(got.contains(reason), "{expression}: {got}");
                }
                other => panic!("{expression}: {other:?}"),
            }
        }
    }

    fn assert_stopped_quickly(expression: &str, limit: Duration, want: fn(&DiffError) -> bool) {
        let started = Instant::now();
        let result = JqPath::compile(expression)
            .and_then(|jq| Evaluator::new(limit).paths(&jq, &json!({"spec": {"replicas": 1}})));
        let took = started.elapsed();
        match &result {
            Err(e) if want(e) => {}
            other => panic!("{expression}: {other:?}"),
        }
        assert!(
            took < limit + GRACE + Duration::from_millis(500),
            "{expression} took {took:?}"
        );
    }

    #[test]
    fn an_expression_that_loops_forever_times_out() {
        for expression in [
            "def f: f; f",
            "last(repeat(.))",
            ".spec | select(last(range(1e18)) > 0)",
            "until(false; .)",
        ] {
            assert_stopped_quickly(
                expression,
                Duration::from_millis(200),
                |e| matches!(e, DiffError::JqTimeout { limit, .. } if *limit == Duration::from_millis(200)),
            );
        }
    }

    #[test]
    fn an_expression_that_recurses_without_end_is_stopped_before_the_stack_overflows() {
        assert_stopped_quickly("def f: f | f; f", DEFAULT_JQ_TIMEOUT, |e| {
            matches!(
                e,
                DiffError::JqLimitExceeded { .. } | DiffError::JqTimeout { .. }
            )
        });
        assert_stopped_quickly("def f: (.a | f), .b; f", DEFAULT_JQ_TIMEOUT, |e| {
            matches!(
                e,
                DiffError::JqLimitExceeded { .. } | DiffError::JqTimeout { .. }
            )
        });
    }

    #[test]
    fn an_expression_yielding_paths_without_end_is_stopped() {
        assert_stopped_quickly("repeat(.)", DEFAULT_JQ_TIMEOUT, |e| {
            matches!(
                e,
                DiffError::JqLimitExceeded { .. } | DiffError::JqTimeout { .. }
            )
        });
    }

    #[test]
    fn the_timeout_error_names_the_expression_and_the_limit() {
        let err = JqPath::compile("def f: f; f")
            .and_then(|jq| Evaluator::new(Duration::from_millis(100)).paths(&jq, &json!({})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("jq path expression \"def f: f; f\" did not finish within 100ms")
        );
    }

    #[test]
    fn an_evaluator_keeps_working_after_a_timeout() -> Result<(), DiffError> {
        let mut evaluator = Evaluator::new(Duration::from_millis(100));
        let doc = json!({"a": 1});
        assert!(evaluator
            .paths(&JqPath::compile("def f: f; f")?, &doc)
            .is_err());
        assert_eq!(
            evaluator.paths(&JqPath::compile(".a")?, &doc)?,
            vec![vec![key("a")]]
        );
        Ok(())
    }
}
