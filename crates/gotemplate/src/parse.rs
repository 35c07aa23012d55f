//! The parser: Go's `text/template/parse` grammar, producing one tree per
//! template defined in a text (the text itself plus each `define` and
//! `block`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::lex::{self, Kind, Token};
use crate::value::Value;

/// How deeply control structures and parentheses may nest in one text, so
/// the recursive parser and executor stay far from the thread's stack limit.
pub const MAX_PARSE_DEPTH: usize = 200;

/// One named template.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    /// The name of the text this tree was parsed from (used in error locations).
    pub parse_name: Arc<str>,
    pub text: Arc<str>,
    pub root: Vec<Node>,
}

impl Tree {
    /// Go's `IsEmptyTree`: only whitespace text and comments.
    pub fn is_empty(&self) -> bool {
        self.root.iter().all(|n| match n {
            Node::Text(t) => t.trim().is_empty(),
            Node::Comment => true,
            _ => false,
        })
    }

    /// `NAME:LINE:COL` for a byte position, as Go's `ErrorContext`
    /// (the column is the 0-based byte offset in the line).
    pub fn location(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.text.len());
        let before = &self.text.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = match before.iter().rposition(|&b| b == b'\n') {
            Some(i) => pos - i - 1,
            None => pos,
        };
        (line, col)
    }
}

#[derive(Debug)]
pub enum Node {
    Text(String),
    Comment,
    Action(Pipe),
    If(Control),
    With(Control),
    Range(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug)]
pub struct Control {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub args: Vec<Operand>,
}

#[derive(Debug)]
pub enum Operand {
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    /// A number literal: its text and its value as Go's `idealConstant`
    /// would produce it (or the error that would raise).
    Number(usize, String, Result<Value, String>),
    /// A string literal: its source text and its value.
    String(usize, String, Arc<str>),
    /// `.a.b`: the field names.
    Field(usize, Vec<String>),
    /// `$x.a.b`: the variable name (with `$`) then the field names.
    Variable(usize, Vec<String>),
    Identifier(usize, String),
    Pipe(Box<Pipe>),
    /// `(pipe).a.b` and similar.
    Chain(usize, Box<Operand>, Vec<String>),
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Dot(p)
            | Operand::Nil(p)
            | Operand::Bool(p, _)
            | Operand::Number(p, _, _)
            | Operand::String(p, _, _)
            | Operand::Field(p, _)
            | Operand::Variable(p, _)
            | Operand::Identifier(p, _)
            | Operand::Chain(p, _, _) => *p,
            Operand::Pipe(p) => p.pos,
        }
    }
}

// === node text, as Go's String() methods (used in error contexts) ===

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Dot(_) => f.write_str("."),
            Operand::Nil(_) => f.write_str("nil"),
            Operand::Bool(_, b) => write!(f, "{b}"),
            Operand::Number(_, text, _) | Operand::String(_, text, _) => f.write_str(text),
            Operand::Field(_, idents) => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Operand::Variable(_, idents) => f.write_str(&idents.join(".")),
            Operand::Identifier(_, name) => f.write_str(name),
            Operand::Pipe(p) => write!(f, "({p})"),
            Operand::Chain(_, node, fields) => {
                match node.as_ref() {
                    Operand::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

// === parser ===

/// Parses `text` (named `name`) into its trees, keyed by template name.
/// `has_function` says which identifiers are functions.
pub fn parse(
    name: &str,
    text: &str,
    has_function: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, Tree>, Error> {
    let text: Arc<str> = Arc::from(text);
    let parse_name: Arc<str> = Arc::from(name);
    let mut p = Parser {
        tokens: lex::lex(&text),
        i: 0,
        line: 1,
        parse_name: parse_name.clone(),
        text: text.clone(),
        has_function,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_line: 0,
        depth: 0,
        trees: HashMap::new(),
    };
    let root = p.parse_top()?;
    p.add(Tree {
        name: name.to_string(),
        parse_name,
        text,
        root,
    })?;
    Ok(p.trees)
}

enum ListEnd {
    End,
    Else,
}

struct Parser<'a> {
    tokens: Vec<Token>,
    i: usize,
    line: usize,
    parse_name: Arc<str>,
    text: Arc<str>,
    has_function: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    depth: usize,
    trees: HashMap<String, Tree>,
}

type PResult<T> = Result<T, Error>;

impl Parser<'_> {
    fn errorf(&self, message: impl Into<String>) -> Error {
        Error::Parse {
            name: self.parse_name.to_string(),
            line: self.line,
            message: message.into(),
        }
    }

    fn token(&self, i: usize) -> Token {
        self.tokens
            .get(i)
            .or(self.tokens.last())
            .cloned()
            .unwrap_or(Token {
                kind: Kind::Eof,
                pos: 0,
                line: 1,
                val: String::new(),
            })
    }

    fn next(&mut self) -> Token {
        let t = self.token(self.i);
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        self.line = t.line;
        t
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let t = self.token(self.i);
        self.line = t.line;
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn unexpected(&self, t: &Token, context: &str) -> Error {
        if t.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != t.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if t.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return Error::Parse {
                name: self.parse_name.to_string(),
                line: t.line,
                message: format!("{}{extra}", t.val),
            };
        }
        self.errorf(format!("unexpected {t} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(self.errorf("max expression depth exceeded"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Go's `Tree.add`: an empty tree never replaces a non-empty one, and a
    /// name may be defined with content only once per text.
    fn add(&mut self, tree: Tree) -> PResult<()> {
        match self.trees.get(&tree.name) {
            Some(old) if !old.is_empty() => {
                if !tree.is_empty() {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        crate::format::quote(&tree.name, false)
                    )));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(tree.name.clone(), tree);
                Ok(())
            }
        }
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let mark = self.i;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = mark;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return Err(self.errorf("unexpected {{end}}")),
                Item::Else => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let t = self.next_non_space();
        let name = match t.kind {
            Kind::String | Kind::RawString => unquote(&t.val).map_err(|e| self.errorf(e))?,
            _ => return Err(self.unexpected(&t, context)),
        };
        self.expect(Kind::RightDelim, context)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (root, end) = self.item_list()?;
        self.vars = saved;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add(Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root,
        })
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End => return Ok((list, ListEnd::End)),
                Item::Else => return Ok((list, ListEnd::Else)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.val))),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            Kind::Comment => Ok(Item::Node(Node::Comment)),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block_control().map(Item::Node),
            Kind::Break | Kind::Continue => {
                let word = if t.kind == Kind::Break {
                    "break"
                } else {
                    "continue"
                };
                let next = self.next_non_space();
                if next.kind != Kind::RightDelim {
                    return Err(self.unexpected(&next, &format!("{{{{{word}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
                }
                return Ok(Item::Node(if t.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => {
                let peek = self.peek_non_space();
                if peek.kind == Kind::If || peek.kind == Kind::With {
                    return Ok(Item::Else);
                }
                self.expect(Kind::RightDelim, "else")?;
                return Ok(Item::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => return self.control("if").map(|c| Item::Node(Node::If(c))),
            Kind::Range => return self.control("range").map(|c| Item::Node(Node::Range(c))),
            Kind::With => return self.control("with").map(|c| Item::Node(Node::With(c))),
            Kind::Template => return self.template_control().map(Item::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn control(&mut self, context: &str) -> PResult<Control> {
        self.enter()?;
        let vars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(vars);
        self.leave();
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Control> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = r?;
        let mut else_list = None;
        if let ListEnd::Else = end {
            let peek = self.peek_non_space().kind;
            if context == "if" && peek == Kind::If {
                self.next_non_space();
                else_list = Some(vec![Node::If(self.control("if")?)]);
            } else if context == "with" && peek == Kind::With {
                self.next_non_space();
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (list, end) = self.item_list()?;
                if let ListEnd::Else = end {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(list);
            }
        }
        Ok(Control {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<(Token, String)> {
        let t = self.next_non_space();
        match t.kind {
            Kind::String | Kind::RawString => {
                let name = unquote(&t.val).map_err(|e| self.errorf(e))?;
                Ok((t, name))
            }
            _ => Err(self.unexpected(&t, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let (t, name) = self.template_name(context)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, Kind::RightDelim)?);
        }
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let (t, name) = self.template_name(context)?;
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        self.enter()?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.leave();
        let (root, end) = r?;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add(Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root,
        })?;
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let mark = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = mark;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Operand::Bool(..)
                | Operand::Dot(_)
                | Operand::Nil(_)
                | Operand::Number(..)
                | Operand::String(..),
            ) = c.args.first()
            {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command { args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let t = self.next();
            fields.push(t.val[1..].to_string());
        }
        Ok(Some(match node {
            Operand::Field(pos, mut idents) => {
                idents.extend(fields);
                Operand::Field(pos, idents)
            }
            Operand::Variable(pos, mut idents) => {
                idents.extend(fields);
                Operand::Variable(pos, idents)
            }
            Operand::Bool(..)
            | Operand::String(..)
            | Operand::Number(..)
            | Operand::Nil(_)
            | Operand::Dot(_) => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    crate::format::quote(&node.to_string(), false)
                )))
            }
            other => Operand::Chain(other.pos(), Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let t = self.next_non_space();
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !(self.has_function)(&t.val) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        crate::format::quote(&t.val, false)
                    )));
                }
                Operand::Identifier(t.pos, t.val)
            }
            Kind::Dot => Operand::Dot(t.pos),
            Kind::Nil => Operand::Nil(t.pos),
            Kind::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        crate::format::quote(&idents[0], false)
                    )));
                }
                Operand::Variable(t.pos, idents)
            }
            Kind::Field => Operand::Field(t.pos, vec![t.val[1..].to_string()]),
            Kind::Bool => Operand::Bool(t.pos, t.val == "true"),
            Kind::Number | Kind::CharConstant => {
                let value =
                    number(&t.val, t.kind == Kind::CharConstant).map_err(|e| self.errorf(e))?;
                Operand::Number(t.pos, t.val, value)
            }
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.leave();
                Operand::Pipe(Box::new(pipe?))
            }
            Kind::String | Kind::RawString => {
                let s = unquote(&t.val).map_err(|e| self.errorf(e))?;
                Operand::String(t.pos, t.val, Arc::from(s))
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Item {
    Node(Node),
    End,
    Else,
}

// === literals ===

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals.
pub fn unquote(s: &str) -> Result<String, String> {
    let syntax = || "invalid syntax".to_string();
    if let Some(raw) = s.strip_prefix('`') {
        let raw = raw.strip_suffix('`').ok_or_else(syntax)?;
        return Ok(raw.replace('\r', ""));
    }
    let (quote, body) = if let Some(b) = s.strip_prefix('"') {
        ('"', b.strip_suffix('"').ok_or_else(syntax)?)
    } else if let Some(b) = s.strip_prefix('\'') {
        ('\'', b.strip_suffix('\'').ok_or_else(syntax)?)
    } else {
        return Err(syntax());
    };
    let mut out = String::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut chars = body.chars().peekable();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        if !bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c == quote || c == '\n' {
            return Err(syntax());
        }
        if c != '\\' {
            flush(&mut bytes, &mut out);
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(syntax)?;
        let hex = |n: usize, chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return Err(syntax());
            }
            u32::from_str_radix(&digits, 16).map_err(|_| syntax())
        };
        // Bytes from `\x`/octal escapes before this escape come first.
        if !matches!(e, 'x' | '0'..='7') {
            flush(&mut bytes, &mut out);
        }
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == quote => out.push(e),
            'x' => {
                let v = hex(2, &mut chars)?;
                bytes.push(v as u8);
                continue;
            }
            'u' | 'U' => {
                let v = hex(if e == 'u' { 4 } else { 8 }, &mut chars)?;
                flush(&mut bytes, &mut out);
                out.push(char::from_u32(v).ok_or_else(syntax)?);
                continue;
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(syntax)?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err(syntax());
                }
                bytes.push(v as u8);
                continue;
            }
            _ => return Err(syntax()),
        }
        flush(&mut bytes, &mut out);
    }
    flush(&mut bytes, &mut out);
    if quote == '\'' && out.chars().count() != 1 {
        return Err(syntax());
    }
    Ok(out)
}

/// Parses a number or character literal into the value Go's
/// `idealConstant` gives it: ints stay ints unless the text has `.`, `e` or
/// `p` (and is not hex), char constants are ints.
fn number(text: &str, is_char: bool) -> Result<Result<Value, String>, String> {
    let illegal = || {
        format!(
            "illegal number syntax: {}",
            crate::format::quote(text, false)
        )
    };
    if is_char {
        let s = unquote(text).map_err(|_| format!("malformed character constant: {text}"))?;
        let c = s.chars().next().ok_or_else(illegal)?;
        return Ok(Ok(Value::Int(c as i64)));
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text}"));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    if let Some(i) = parse_int(&lower) {
        let looks_float = !is_hex && (lower.contains('.') || lower.contains('e'));
        let signed = if neg { i.checked_neg() } else { Some(i) };
        return Ok(match signed {
            Some(v) if looks_float => Ok(Value::Float(v as f64)),
            Some(v) => Ok(Value::Int(v)),
            None => Err(format!("{text} overflows int")),
        });
    }
    if !body.contains(['.', 'e', 'E', 'p', 'P']) {
        if body.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && parse_uint_overflow(&lower)
        {
            return Err(format!(
                "integer overflow: {}",
                crate::format::quote(text, false)
            ));
        }
        return Err(illegal());
    }
    let f = parse_float(&lower).ok_or_else(illegal)?;
    let f = if neg { -f } else { f };
    if f.is_infinite() {
        return Err(illegal());
    }
    Ok(Ok(Value::Float(f)))
}

fn strip_underscores(digits: &str) -> Option<String> {
    if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    Some(digits.replace('_', ""))
}

/// An integer literal as `strconv.ParseInt(s, 0, 64)` (without sign).
fn parse_int(s: &str) -> Option<i64> {
    let (radix, digits) = if let Some(d) = s.strip_prefix("0x") {
        (16, d.strip_prefix('_').unwrap_or(d))
    } else if let Some(d) = s.strip_prefix("0o") {
        (8, d.strip_prefix('_').unwrap_or(d))
    } else if let Some(d) = s.strip_prefix("0b") {
        (2, d.strip_prefix('_').unwrap_or(d))
    } else if s.len() > 1 && s.starts_with('0') {
        (8, s[1..].strip_prefix('_').unwrap_or(&s[1..]))
    } else {
        (10, s)
    };
    let digits = strip_underscores(digits)?;
    if digits.is_empty() {
        return None;
    }
    let v = u64::from_str_radix(&digits, radix).ok()?;
    if v <= i64::MAX as u64 {
        Some(v as i64)
    } else if v == i64::MAX as u64 + 1 {
        // Only valid negated; caller negates with checked_neg, so report overflow.
        None
    } else {
        None
    }
}

fn parse_uint_overflow(s: &str) -> bool {
    let digits = s.trim_start_matches("0x").replace('_', "");
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit())
}

fn parse_float(s: &str) -> Option<f64> {
    if let Some(hex) = s.strip_prefix("0x") {
        // Hex float: mantissa p exponent.
        let (mant, exp) = hex.split_once('p')?;
        let exp: i32 = strip_underscores(exp)?.parse().ok()?;
        let mant = strip_underscores(mant)?;
        let (int, frac) = mant.split_once('.').unwrap_or((&mant, ""));
        let mut v = 0f64;
        for c in int.chars() {
            v = v * 16.0 + c.to_digit(16)? as f64;
        }
        let mut scale = 1.0 / 16.0;
        for c in frac.chars() {
            v += c.to_digit(16)? as f64 * scale;
            scale /= 16.0;
        }
        return Some(v * 2f64.powi(exp));
    }
    let cleaned = strip_underscores(s)?;
    if cleaned.starts_with('.') && cleaned.len() == 1 {
        return None;
    }
    cleaned.parse::<f64>().ok()
}
