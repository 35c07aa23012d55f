//! Go's `text/template`, faithfully: the lexer, parser and executor Helm
//! rendering sits on.
//!
//! - [`Template`] is a set of named templates. [`Template::parse`] adds a
//!   text and every `define`/`block` in it; later texts override earlier
//!   definitions by Go's rules, so `_helpers.tpl` definitions are visible
//!   to every file of the set. [`Template::execute`] runs one by name.
//! - [`Value`] is the data model (nil, bool, int, float, string, list,
//!   sorted map, host [`Object`]s), printed as Go's `fmt` prints.
//! - [`Funcs`] registers extra functions (Sprig, Helm's own) without
//!   touching the engine; a function gets a [`Context`] to execute named
//!   templates (`include`), parse and run new text (`tpl`) and say where it
//!   was called (`required`, `fail`).
//! - [`Options`] bound recursion depth and output size, and choose Go's
//!   `missingkey` behaviour.

mod builtins;
mod error;
mod exec;
mod format;
mod lex;
mod parse;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use error::{Error, ExecError, FuncError, Location};
pub use exec::Context;
pub use value::{JsonNumbers, Object, SharedMap, Value};

/// Go's `fmt` helpers, for functions that must print as Go does.
pub mod fmt {
    pub use crate::format::{quote, sprint, sprint_value, sprintf, sprintln};
}

/// A template function: gets the execution context and the evaluated
/// arguments (the piped value last, as in Go).
pub type Func = Arc<dyn Fn(&mut Context<'_>, &[Value]) -> Result<Value, FuncError> + Send + Sync>;

/// A registry of functions by name. Registered functions take precedence
/// over the builtins of the same name, as in Go's `Funcs`.
#[derive(Clone, Default)]
pub struct Funcs {
    map: HashMap<String, Func>,
}

impl Funcs {
    pub fn new() -> Self {
        Funcs::default()
    }

    /// Registers (or replaces) function `name`.
    pub fn insert<F>(&mut self, name: impl Into<String>, f: F) -> &mut Self
    where
        F: Fn(&mut Context<'_>, &[Value]) -> Result<Value, FuncError> + Send + Sync + 'static,
    {
        self.map.insert(name.into(), Arc::new(f));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Func> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Funcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("Funcs").field("names", &names).finish()
    }
}

/// Go's `missingkey` option: what a field access on a map yields for a
/// missing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default`: no value; printed as `<no value>`, and further
    /// field accesses on it yield no value too.
    #[default]
    Default,
    /// `missingkey=zero`: a nil `interface{}` (Helm's non-strict mode);
    /// printed as `<no value>`, and a further field access is the error
    /// `nil pointer evaluating interface {}.x`.
    Zero,
    /// `missingkey=error`: `map has no entry for key "x"`.
    Error,
}

/// Execution limits and behaviour.
#[derive(Clone, Debug)]
pub struct Options {
    /// Maximum nesting of `template`/`block` invocations and context
    /// executions (`include`, `tpl`). Go uses 100000; deep nesting past a
    /// few thousand would exhaust the thread's stack.
    pub max_depth: usize,
    /// Maximum bytes written over one execution, counting the output of
    /// nested executions (`include`) too.
    pub max_output: usize,
    /// Maximum bytes of thread stack an execution may use for nesting
    /// (`template`, `include`, `tpl`); past it the execution fails as if
    /// the depth limit were hit. Keep it well under the stack size of the
    /// threads executing templates (2 MiB for Rust's spawned threads).
    pub max_stack: usize,
    pub missing_key: MissingKey,
    /// When set, an execution still running at this instant fails with a
    /// limit error (checked at every `range` iteration and nesting step).
    pub deadline: Option<std::time::Instant>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_depth: 1000,
            max_output: 64 << 20,
            max_stack: 1 << 20,
            missing_key: MissingKey::Default,
            deadline: None,
        }
    }
}

/// A set of named templates sharing functions and options.
#[derive(Clone, Debug, Default)]
pub struct Template {
    trees: HashMap<String, Arc<parse::Tree>>,
    funcs: Arc<Funcs>,
    options: Options,
}

impl Template {
    pub fn new() -> Self {
        Template::default()
    }

    /// A set whose texts may call `funcs` (besides the builtins).
    pub fn with_funcs(funcs: Funcs) -> Self {
        Template {
            funcs: Arc::new(funcs),
            ..Template::default()
        }
    }

    /// A set sharing an already built function registry (building a large
    /// registry, such as Sprig's, for every render is measurable).
    pub fn with_shared_funcs(funcs: Arc<Funcs>) -> Self {
        Template {
            funcs,
            ..Template::default()
        }
    }

    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn funcs(&self) -> &Funcs {
        &self.funcs
    }

    /// Parses `text` as template `name`, adding it and the templates it
    /// defines to the set. As in Go, a redefinition replaces the earlier
    /// one unless the new body is empty (whitespace and comments only);
    /// two non-empty definitions of a name within one text are an error.
    /// On error the set is unchanged.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let funcs = self.funcs.clone();
        let has_function = |f: &str| funcs.contains(f) || builtins::is_builtin(f);
        let trees = parse::parse(name, text, &has_function)?;
        for (tree_name, tree) in trees {
            let keep_old = tree.is_empty() && self.trees.contains_key(&tree_name);
            if !keep_old {
                self.trees.insert(tree_name, Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Executes template `name` with `data` as dot and `$`.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        let mut shared = exec::Shared::new(&self.options);
        exec::execute(self, &mut shared, name, Some(data.clone()))
    }

    /// Whether template `name` is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The names of all templates in the set, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn tree(&self, name: &str) -> Option<&Arc<parse::Tree>> {
        self.trees.get(name)
    }
}
