//! The executor: walks parsed trees against data as Go's
//! `text/template/exec.go` does, and the [`Context`] handed to functions.

use crate::builtins;
use crate::error::{Error, ExecError, FuncError, Location};
use crate::format;
use crate::parse::{Command, Control, Node, Operand, Pipe, Tree};
use crate::value::Value;
use crate::{MissingKey, Options, Template};

/// A value during evaluation. `None` is Go's invalid `reflect.Value` (no
/// value: a missing map key, or nil after a pipeline); `Some(Value::Nil)`
/// is a nil `interface{}` (an explicit null in a map or list), on which a
/// field access is an error.
type V = Option<Value>;

/// Counters shared by an execution and every nested one (`template`,
/// `include`, `tpl`), so limits hold across all of them.
#[derive(Debug)]
pub(crate) struct Shared {
    depth: usize,
    written: usize,
    max_depth: usize,
    max_output: usize,
    missing_key: MissingKey,
    stack_base: usize,
    max_stack: usize,
    deadline: Option<std::time::Instant>,
}

impl Shared {
    pub(crate) fn new(options: &Options) -> Self {
        Shared {
            depth: 0,
            written: 0,
            max_depth: options.max_depth,
            max_output: options.max_output,
            missing_key: options.missing_key,
            stack_base: stack_address(),
            max_stack: options.max_stack,
            deadline: options.deadline,
        }
    }

    /// The error message when the execution ran past its deadline.
    fn deadline_passed(&self) -> Option<String> {
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => {
                Some("template execution exceeded its time limit".to_owned())
            }
            _ => None,
        }
    }

    /// The error message when nesting one level deeper would pass a limit.
    fn nesting_exceeded(&self) -> Option<String> {
        if let Some(message) = self.deadline_passed() {
            return Some(message);
        }
        if self.depth >= self.max_depth {
            return Some(format!(
                "exceeded maximum template depth ({})",
                self.max_depth
            ));
        }
        if stack_address().abs_diff(self.stack_base) > self.max_stack {
            return Some(format!(
                "exceeded maximum template depth ({} levels used the {} byte stack budget)",
                self.depth, self.max_stack
            ));
        }
        None
    }
}

/// The address of a local, to measure how much stack nesting has used
/// (deep recursion must fail with an error, never overflow the stack).
#[inline(never)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Executes template `name` of `set` into a new string.
pub(crate) fn execute(
    set: &Template,
    shared: &mut Shared,
    name: &str,
    dot: V,
) -> Result<String, Error> {
    let Some(tree) = set.tree(name) else {
        return Err(Error::Exec(Box::new(ExecError {
            template: name.to_string(),
            location: None,
            context: String::new(),
            message: format!(
                "no template {} associated with template {}",
                format::quote(name, false),
                format::quote(name, false)
            ),
            limit: false,
        })));
    };
    let mut out = String::new();
    let mut state = State {
        set,
        tree,
        name,
        vars: vec![("$".to_string(), dot.clone())],
        shared,
    };
    state.walk_list(&dot, &tree.root, &mut out)?;
    Ok(out)
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    set: &'a Template,
    tree: &'a Tree,
    /// The template being executed.
    name: &'a str,
    vars: Vec<(String, V)>,
    shared: &'a mut Shared,
}

type R<T> = Result<T, Error>;

/// Turns a nil interface into no value, as Go's evalPipeline does for
/// results of type `interface{}`.
fn dig(v: V) -> V {
    match v {
        Some(Value::Nil) => None,
        v => v,
    }
}

/// Go's `validateType` for `interface{}` parameters: no value becomes nil.
fn arg_value(v: V) -> Value {
    v.unwrap_or(Value::Nil)
}

impl State<'_> {
    // === errors ===

    fn error_at(&self, pos: usize, context: &dyn std::fmt::Display, message: String) -> Error {
        let (line, col) = self.tree.location(pos);
        Error::Exec(Box::new(ExecError {
            template: self.name.to_string(),
            location: Some(Location {
                parse_name: self.tree.parse_name.to_string(),
                line,
                col,
            }),
            context: context.to_string(),
            message,
            limit: false,
        }))
    }

    fn limit_at(&self, pos: usize, context: &dyn std::fmt::Display, message: String) -> Error {
        let mut e = self.error_at(pos, context, message);
        if let Error::Exec(ex) = &mut e {
            ex.limit = true;
        }
        e
    }

    fn write(
        &mut self,
        out: &mut String,
        s: &str,
        pos: usize,
        ctx: &dyn std::fmt::Display,
    ) -> R<()> {
        self.shared.written += s.len();
        if self.shared.written > self.shared.max_output {
            return Err(self.limit_at(
                pos,
                ctx,
                format!(
                    "exceeded maximum output size ({} bytes)",
                    self.shared.max_output
                ),
            ));
        }
        out.push_str(s);
        Ok(())
    }

    // === walking ===

    fn walk_list(&mut self, dot: &V, list: &[Node], out: &mut String) -> R<Flow> {
        for node in list {
            match node {
                Node::Text(t) => {
                    self.shared.written += t.len();
                    if self.shared.written > self.shared.max_output {
                        return Err(self.limit_at(
                            0,
                            &"text",
                            format!(
                                "exceeded maximum output size ({} bytes)",
                                self.shared.max_output
                            ),
                        ));
                    }
                    out.push_str(t);
                }
                Node::Comment => {}
                Node::Action(pipe) => {
                    let val = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let text = match &val {
                            None => "<no value>".to_string(),
                            Some(v) => format::sprint_value(v),
                        };
                        self.write(out, &text, pipe.pos, &Braced(pipe))?;
                    }
                }
                Node::If(c) => {
                    let flow = self.walk_if_or_with(false, dot, c, out)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(c) => {
                    let flow = self.walk_if_or_with(true, dot, c, out)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(c) => self.walk_range(dot, c, out)?,
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref(), out)?
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &V, c: &Control, out: &mut String) -> R<Flow> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &c.pipe)?;
            let truth = val.as_ref().is_some_and(Value::is_true);
            if truth {
                if with {
                    self.walk_list(&val, &c.list, out)
                } else {
                    self.walk_list(dot, &c.list, out)
                }
            } else if let Some(else_list) = &c.else_list {
                self.walk_list(dot, else_list, out)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &V, c: &Control, out: &mut String) -> R<()> {
        let outer = self.vars.len();
        let r = self.walk_range_inner(dot, c, out);
        self.vars.truncate(outer);
        r
    }

    fn walk_range_inner(&mut self, dot: &V, c: &Control, out: &mut String) -> R<()> {
        let val = self.eval_pipeline(dot, &c.pipe)?;
        // A host object ranges as its data (Helm's `.Files.Glob` is a map).
        let val = match val {
            Some(Value::Object(o)) => Some(o.to_value().unwrap_or(Value::Object(o))),
            Some(Value::SharedMap(map)) => Some(Value::Map(map.snapshot())),
            other => other,
        };
        let mark = self.vars.len();
        let ran = match &val {
            Some(Value::List(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let flow = self.range_iteration(
                        c,
                        mark,
                        Value::Int(i as i64),
                        Some(item.clone()),
                        out,
                    )?;
                    if let Flow::Break = flow {
                        break;
                    }
                }
                true
            }
            Some(Value::Map(map)) if !map.is_empty() => {
                for (k, item) in map.iter() {
                    let flow = self.range_iteration(
                        c,
                        mark,
                        Value::from(k.as_str()),
                        Some(item.clone()),
                        out,
                    )?;
                    if let Flow::Break = flow {
                        break;
                    }
                }
                true
            }
            Some(Value::Int(n)) => {
                if c.pipe.decl.len() > 1 {
                    return Err(self.error_at(
                        c.pos,
                        &Braced(&c.pipe),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..*n {
                    let flow =
                        self.range_iteration(c, mark, Value::Int(i), Some(Value::Int(i)), out)?;
                    if let Flow::Break = flow {
                        break;
                    }
                }
                *n > 0
            }
            Some(Value::List(_)) | Some(Value::Map(_)) | None => false,
            Some(other) => {
                return Err(self.error_at(
                    c.pos,
                    &RangeCtx(&c.pipe),
                    format!("range can't iterate over {}", format::sprint_value(other)),
                ))
            }
        };
        if !ran {
            if let Some(else_list) = &c.else_list {
                self.walk_list(dot, else_list, out)?;
            }
        }
        Ok(())
    }

    fn range_iteration(
        &mut self,
        c: &Control,
        mark: usize,
        index: Value,
        elem: V,
        out: &mut String,
    ) -> R<Flow> {
        if let Some(message) = self.shared.deadline_passed() {
            return Err(self.limit_at(c.pos, &RangeCtx(&c.pipe), message));
        }
        let decl = &c.pipe.decl;
        if !decl.is_empty() {
            if c.pipe.is_assign {
                let v = if decl.len() > 1 {
                    Some(index.clone())
                } else {
                    elem.clone()
                };
                self.set_var(&decl[0], v, c.pos, &c.pipe)?;
            } else {
                let n = self.vars.len();
                self.vars[n - 1].1 = elem.clone();
            }
        }
        if decl.len() > 1 {
            if c.pipe.is_assign {
                self.set_var(&decl[1], elem.clone(), c.pos, &c.pipe)?;
            } else {
                let n = self.vars.len();
                self.vars[n - 2].1 = Some(index);
            }
        }
        let r = self.walk_list(&elem, &c.list, out);
        self.vars.truncate(mark);
        r
    }

    fn walk_template(
        &mut self,
        dot: &V,
        pos: usize,
        name: &str,
        pipe: Option<&Pipe>,
        out: &mut String,
    ) -> R<()> {
        let ctx = TemplateCtx(name, pipe);
        let Some(tree) = self.set.tree(name) else {
            return Err(self.error_at(
                pos,
                &ctx,
                format!("template {} not defined", format::quote(name, false)),
            ));
        };
        if let Some(message) = self.shared.nesting_exceeded() {
            return Err(self.limit_at(pos, &ctx, message));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => None,
        };
        self.shared.depth += 1;
        let mut state = State {
            set: self.set,
            tree,
            name,
            vars: vec![("$".to_string(), new_dot.clone())],
            shared: &mut *self.shared,
        };
        let r = state.walk_list(&new_dot, &tree.root, out);
        self.shared.depth -= 1;
        r.map(|_| ())
    }

    // === variables ===

    fn set_var(&mut self, name: &str, v: V, pos: usize, pipe: &Pipe) -> R<()> {
        for var in self.vars.iter_mut().rev() {
            if var.0 == name {
                var.1 = v;
                return Ok(());
            }
        }
        Err(self.error_at(pos, &Braced(pipe), format!("undefined variable: {name}")))
    }

    fn var_value(&self, name: &str, op: &Operand) -> R<V> {
        for var in self.vars.iter().rev() {
            if var.0 == name {
                return Ok(var.1.clone());
            }
        }
        Err(self.error_at(op.pos(), op, format!("undefined variable: {name}")))
    }

    // === evaluation ===

    fn eval_pipeline(&mut self, dot: &V, pipe: &Pipe) -> R<V> {
        let mut value: Option<V> = None;
        for cmd in &pipe.cmds {
            value = Some(dig(self.eval_command(dot, cmd, value)?));
        }
        let value = value.flatten();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe.pos, pipe)?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// `final_` is the previous command's result in a pipeline (`None`
    /// when there is none, Go's `missingVal`).
    fn eval_command(&mut self, dot: &V, cmd: &Command, final_: Option<V>) -> R<V> {
        let Some(first) = cmd.args.first() else {
            return Ok(None);
        };
        match first {
            Operand::Field(pos, idents) => self.eval_field_chain(
                dot,
                dot.clone(),
                first,
                *pos,
                idents,
                &cmd.args,
                final_,
                false,
            ),
            Operand::Chain(pos, node, fields) => {
                let recv = self.eval_arg_v(dot, node)?;
                self.eval_field_chain(dot, recv, first, *pos, fields, &cmd.args, final_, false)
            }
            Operand::Identifier(pos, name) => {
                self.eval_function(dot, *pos, name, cmd, &cmd.args, final_)
            }
            Operand::Pipe(p) => {
                self.not_a_function(cmd, final_.is_some())?;
                self.eval_pipeline(dot, p)
            }
            Operand::Variable(pos, idents) => {
                let value = self.var_value(&idents[0], first)?;
                if idents.len() == 1 {
                    self.not_a_function(cmd, final_.is_some())?;
                    return Ok(value);
                }
                self.eval_field_chain(
                    dot,
                    value,
                    first,
                    *pos,
                    &idents[1..],
                    &cmd.args,
                    final_,
                    false,
                )
            }
            _ => {
                self.not_a_function(cmd, final_.is_some())?;
                match first {
                    Operand::Dot(_) => Ok(dot.clone()),
                    Operand::Nil(pos) => {
                        Err(self.error_at(*pos, first, "nil is not a command".to_string()))
                    }
                    other => self.literal(other).map(Some),
                }
            }
        }
    }

    fn not_a_function(&self, cmd: &Command, has_final: bool) -> R<()> {
        if cmd.args.len() > 1 || has_final {
            let first = &cmd.args[0];
            return Err(self.error_at(
                first.pos(),
                first,
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn literal(&self, op: &Operand) -> R<Value> {
        match op {
            Operand::Bool(_, b) => Ok(Value::Bool(*b)),
            Operand::String(_, _, s) => Ok(Value::String(s.clone())),
            Operand::Number(pos, _, v) => v.clone().map_err(|e| self.error_at(*pos, op, e)),
            Operand::Nil(_) => Ok(Value::Nil),
            other => Err(self.error_at(
                other.pos(),
                other,
                format!(
                    "can't evaluate command {}",
                    format::quote(&other.to_string(), false)
                ),
            )),
        }
    }

    /// Evaluates an argument (Go's `evalArg` into `interface{}`), keeping
    /// "no value" distinct for chains.
    fn eval_arg_v(&mut self, dot: &V, op: &Operand) -> R<V> {
        match op {
            Operand::Dot(_) => Ok(dot.clone()),
            Operand::Nil(_) => Ok(Some(Value::Nil)),
            Operand::Field(pos, idents) => self.eval_field_chain(
                dot,
                dot.clone(),
                op,
                *pos,
                idents,
                std::slice::from_ref(op),
                None,
                false,
            ),
            Operand::Variable(pos, idents) => {
                let value = self.var_value(&idents[0], op)?;
                if idents.len() == 1 {
                    return Ok(value);
                }
                self.eval_field_chain(
                    dot,
                    value,
                    op,
                    *pos,
                    &idents[1..],
                    std::slice::from_ref(op),
                    None,
                    false,
                )
            }
            Operand::Pipe(p) => self.eval_pipeline(dot, p),
            Operand::Identifier(pos, name) => {
                let cmd = Command { args: Vec::new() };
                self.eval_function(dot, *pos, name, &cmd, std::slice::from_ref(op), None)
            }
            Operand::Chain(pos, node, fields) => {
                let recv = self.eval_arg_v(dot, node)?;
                self.eval_field_chain(
                    dot,
                    recv,
                    op,
                    *pos,
                    fields,
                    std::slice::from_ref(op),
                    None,
                    false,
                )
            }
            other => self.literal(other).map(Some),
        }
    }

    fn eval_arg(&mut self, dot: &V, op: &Operand) -> R<Value> {
        self.eval_arg_v(dot, op).map(arg_value)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &V,
        mut receiver: V,
        node: &Operand,
        pos: usize,
        idents: &[String],
        args: &[Operand],
        final_: Option<V>,
        mut from_map: bool,
    ) -> R<V> {
        let n = idents.len();
        for ident in &idents[..n.saturating_sub(1)] {
            let was_map = matches!(receiver, Some(Value::Map(_) | Value::SharedMap(_)));
            receiver = self.eval_field(dot, ident, node, pos, &[], None, receiver, from_map)?;
            from_map = was_map;
        }
        match idents.last() {
            Some(last) => self.eval_field(dot, last, node, pos, args, final_, receiver, from_map),
            None => Ok(receiver),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &V,
        name: &str,
        node: &Operand,
        pos: usize,
        args: &[Operand],
        final_: Option<V>,
        receiver: V,
        from_map: bool,
    ) -> R<V> {
        let Some(recv) = receiver else {
            if self.shared.missing_key == MissingKey::Error {
                return Err(self.error_at(
                    pos,
                    node,
                    format!("nil data; no entry for key {}", format::quote(name, false)),
                ));
            }
            return Ok(None);
        };
        let recv = match recv {
            Value::SharedMap(map) => Value::Map(map.snapshot()),
            other => other,
        };
        let has_args = args.len() > 1 || final_.is_some();
        let type_name = if from_map {
            "interface {}".to_string()
        } else {
            recv.type_name().to_string()
        };
        match &recv {
            Value::Nil => Err(self.error_at(
                pos,
                node,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            Value::Object(o) => {
                if o.has_method(name) {
                    let mut argv = Vec::with_capacity(args.len());
                    for a in args.iter().skip(1) {
                        argv.push(self.eval_arg(dot, a)?);
                    }
                    if let Some(f) = final_ {
                        argv.push(arg_value(f));
                    }
                    return o.call(name, &argv).map(Some).map_err(|e| {
                        self.error_at(pos, node, format!("error calling {name}: {e}"))
                    });
                }
                match o.field(name) {
                    Some(v) => {
                        if has_args {
                            return Err(self.error_at(
                                pos,
                                node,
                                format!("{name} has arguments but cannot be invoked as function"),
                            ));
                        }
                        Ok(Some(v))
                    }
                    None => Err(self.error_at(
                        pos,
                        node,
                        format!("can't evaluate field {name} in type {type_name}"),
                    )),
                }
            }
            Value::Map(map) => {
                if has_args {
                    return Err(self.error_at(
                        pos,
                        node,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                match map.get(name) {
                    Some(v) => Ok(Some(v.clone())),
                    None => match self.shared.missing_key {
                        MissingKey::Default => Ok(None),
                        MissingKey::Zero => Ok(Some(Value::Nil)),
                        MissingKey::Error => Err(self.error_at(
                            pos,
                            node,
                            format!("map has no entry for key {}", format::quote(name, false)),
                        )),
                    },
                }
            }
            _ => Err(self.error_at(
                pos,
                node,
                format!("can't evaluate field {name} in type {type_name}"),
            )),
        }
    }

    fn eval_function(
        &mut self,
        dot: &V,
        pos: usize,
        name: &str,
        cmd: &Command,
        args: &[Operand],
        final_: Option<V>,
    ) -> R<V> {
        let rest = if args.is_empty() { args } else { &args[1..] };
        // The context of a call error is the whole command, as in Go.
        let ctx: &dyn std::fmt::Display = if cmd.args.is_empty() { &args[0] } else { cmd };
        if let Some(f) = self.set.funcs().get(name).cloned() {
            let mut argv = Vec::with_capacity(rest.len() + 1);
            for a in rest {
                argv.push(self.eval_arg(dot, a)?);
            }
            if let Some(fv) = final_ {
                argv.push(arg_value(fv));
            }
            let result = {
                let mut context = Context {
                    set: self.set,
                    shared: &mut *self.shared,
                    template: self.name,
                    tree: self.tree,
                    pos,
                };
                f(&mut context, &argv)
            };
            return result
                .map(Some)
                .map_err(|e| self.call_error(pos, ctx, name, e));
        }
        // Builtins. `and` and `or` evaluate their arguments lazily.
        if name == "and" || name == "or" {
            let n = rest.len() + usize::from(final_.is_some());
            if n < 1 {
                return Err(self.error_at(
                    pos,
                    ctx,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut v = Value::Nil;
            for a in rest {
                v = self.eval_arg(dot, a)?;
                if v.is_true() == (name == "or") {
                    return Ok(Some(v));
                }
            }
            if let Some(fv) = final_ {
                v = arg_value(fv);
            }
            return Ok(Some(v));
        }
        let mut argv = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            argv.push(self.eval_arg(dot, a)?);
        }
        if let Some(fv) = final_ {
            argv.push(arg_value(fv));
        }
        builtins::call(name, &argv).map(Some).map_err(|e| match e {
            builtins::BuiltinError::Arity(msg) => self.error_at(pos, ctx, msg),
            builtins::BuiltinError::Call(msg) => {
                self.error_at(pos, ctx, format!("error calling {name}: {msg}"))
            }
        })
    }

    fn call_error(
        &self,
        pos: usize,
        ctx: &dyn std::fmt::Display,
        name: &str,
        e: FuncError,
    ) -> Error {
        if let Some(source) = &e.source {
            if source.is_limit() {
                return (**source).clone();
            }
        }
        self.error_at(pos, ctx, format!("error calling {name}: {}", e.message))
    }
}

/// `{{pipe}}` as Go prints an action node.
struct Braced<'a>(&'a Pipe);

impl std::fmt::Display for Braced<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{{}}}}}", self.0)
    }
}

struct RangeCtx<'a>(&'a Pipe);

impl std::fmt::Display for RangeCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{range {}}}}}", self.0)
    }
}

struct TemplateCtx<'a>(&'a str, Option<&'a Pipe>);

impl std::fmt::Display for TemplateCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(p) => write!(f, "{{{{template {} {}}}}}", format::quote(self.0, false), p),
            None => write!(f, "{{{{template {}}}}}", format::quote(self.0, false)),
        }
    }
}

// === impl Context ===

/// What a function may do with the execution calling it.
pub struct Context<'a> {
    set: &'a Template,
    shared: &'a mut Shared,
    template: &'a str,
    tree: &'a Tree,
    pos: usize,
}

impl Context<'_> {
    /// The name of the template being executed (Go's `executing "NAME"`).
    pub fn template_name(&self) -> &str {
        self.template
    }

    /// Where the function was called: the text's name, line and column.
    pub fn location(&self) -> Location {
        let (line, col) = self.tree.location(self.pos);
        Location {
            parse_name: self.tree.parse_name.to_string(),
            line,
            col,
        }
    }

    /// The template set being executed.
    pub fn template_set(&self) -> &Template {
        self.set
    }

    /// Executes template `name` of the current set with `data` as dot, as
    /// Helm's `include` does. Counts against the depth and output limits.
    pub fn execute_template(&mut self, name: &str, data: Value) -> Result<String, Error> {
        self.nested(|shared, set| execute(set, shared, name, Some(data)), None)
    }

    /// Parses `text` as template `name` into a copy of the current set
    /// (sharing its definitions, which the text may override for its own
    /// execution) and executes it, as Helm's `tpl` does.
    pub fn execute_text(&mut self, name: &str, text: &str, data: Value) -> Result<String, Error> {
        let mut set = self.set.clone();
        set.parse(name, text)?;
        self.nested(
            |shared, set| execute(set, shared, name, Some(data)),
            Some(&set),
        )
    }

    fn nested(
        &mut self,
        run: impl FnOnce(&mut Shared, &Template) -> Result<String, Error>,
        set: Option<&Template>,
    ) -> Result<String, Error> {
        if let Some(message) = self.shared.nesting_exceeded() {
            let (line, col) = self.tree.location(self.pos);
            return Err(Error::Exec(Box::new(ExecError {
                template: self.template.to_string(),
                location: Some(Location {
                    parse_name: self.tree.parse_name.to_string(),
                    line,
                    col,
                }),
                context: String::new(),
                message,
                limit: true,
            })));
        }
        self.shared.depth += 1;
        let r = run(self.shared, set.unwrap_or(self.set));
        self.shared.depth -= 1;
        r
    }
}
