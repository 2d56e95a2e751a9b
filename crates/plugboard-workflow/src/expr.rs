//! Mappings: JSON values with `{{ expression }}` strings, compiled once and rendered many times.
//!
//! Expressions are minijinja expressions evaluated in a sandboxed environment (no eval, no I/O, no
//! file loader) with strict undefined handling, so a typo is an error instead of an empty string.
//! Each expression is compiled once, when the workflow is validated; rendering a mapping per item
//! costs one evaluation per expression and no parsing.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::machinery::{ast, parse_expr};
use minijinja::value::{Object, Value as MjValue, ValueKind};
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde_json::Value;

use crate::excerpt::{bounded, excerpt};

/// The one environment every expression is compiled in: strict, without any loader or I/O, and
/// with the operations that multiply a size checked (see `limits.rs`).
pub(crate) fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        crate::limits::install(&mut env);
        env
    })
}

/// Why an expression could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What went wrong, naming the expression.
    pub message: String,
}

impl ExprError {
    /// An error whose message is bounded: it may quote expressions and values.
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: bounded(message.into()),
        }
    }
}

/// One constant step of a path: `.name`, `["name"]` or `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An attribute or a constant string subscript.
    Key(String),
    /// A constant integer subscript.
    Index(i64),
}

/// A variable an expression reads, with the constant path it looks up in it, e.g.
/// `steps.find.output.contacts[0].email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    /// The variable, e.g. `steps`.
    pub root: String,
    /// The attributes and constant subscripts after it, in order.
    pub path: Vec<Segment>,
    /// Whether the expression goes on looking into the value at the end of `path` in a way that
    /// cannot be followed before the run (a computed subscript, a slice, a method call); when
    /// false, that value itself is used (shown, filtered, compared).
    pub looked_into: bool,
}

impl Access {
    /// The path as written in an expression, quoted for a message.
    pub fn display(&self) -> String {
        display_path(&self.root, &self.path)
    }
}

/// `root` followed by `path` in expression syntax (`a.b[0]["not an identifier"]`), cut to an
/// excerpt: the keys come from the workflow.
pub(crate) fn display_path(root: &str, path: &[Segment]) -> String {
    let mut text = root.to_owned();
    for segment in path {
        text.push_str(&Segment::to_string(segment));
    }
    excerpt(&text).into_owned()
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(key)
                if key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                write!(f, ".{key}")
            }
            Self::Key(key) => write!(f, "[{}]", Value::String(key.clone())),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// One compiled `{{ expression }}`.
pub(crate) struct CompiledExpr {
    /// The expression's text, trimmed, without the braces.
    pub source: String,
    expr: Expression<'static, 'static>,
    /// Every variable the expression reads and the paths it follows in them, without repeats.
    accesses: Vec<Access>,
}

impl std::fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{ {} }}}}", self.source)
    }
}

impl CompiledExpr {
    /// Compiles one expression (the text between the braces).
    pub fn compile(source: &str) -> Result<Self, ExprError> {
        let source = source.trim().to_owned();
        if source.is_empty() {
            return Err(ExprError::new("empty expression `{{ }}`"));
        }
        // What runs has every `*` checked; messages and the checks of validation use `source`.
        let runnable = crate::limits::guard_multiplications(&source).map_err(|why| {
            ExprError::new(format!(
                "in `{{{{ {} }}}}`: cannot check the size of its `*` ({why}); put its operands \
                 in parentheses",
                excerpt(&source)
            ))
        })?;
        let expr = environment()
            .compile_expression_owned(runnable.unwrap_or_else(|| source.clone()))
            .map_err(|e| {
                ExprError::new(format!(
                    "in `{{{{ {} }}}}`: {}",
                    excerpt(&source),
                    describe(&e)
                ))
            })?;
        let accesses = accesses(&source);
        Ok(Self {
            source,
            expr,
            accesses,
        })
    }

    /// The variables the expression reads, with the constant paths it follows in them.
    pub fn accesses(&self) -> &[Access] {
        &self.accesses
    }

    /// The names of the variables the expression reads, e.g. `inputs` or `steps`.
    pub fn roots(&self) -> impl Iterator<Item = &str> {
        self.accesses.iter().map(|a| a.root.as_str())
    }

    /// Evaluates the expression; an undefined result is an error.
    pub fn eval(&self, scope: &MjValue) -> Result<MjValue, ExprError> {
        let value = self.expr.eval(scope).map_err(|e| {
            ExprError::new(format!(
                "`{{{{ {} }}}}`: {}",
                excerpt(&self.source),
                describe(&e)
            ))
        })?;
        if value.is_undefined() {
            return Err(ExprError::new(format!(
                "`{{{{ {} }}}}` is undefined",
                excerpt(&self.source)
            )));
        }
        Ok(value)
    }
}

/// minijinja's error text without its template-location suffix, which means nothing to a user;
/// cut, because a detail may quote a value.
fn describe(error: &minijinja::Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text.push_str(": ");
        text.push_str(&excerpt(detail));
    }
    text
}

/// Every variable `source` reads, with the attributes and constant subscripts that follow it.
///
/// Read from the expression's syntax tree rather than from minijinja's `undeclared_variables`,
/// which stops at the first subscript and cannot tell `steps.add | length` (the step's result
/// used as a value) from `steps.add[key]` (looked into).
fn accesses(source: &str) -> Vec<Access> {
    // The expression compiled, so it parses; an error here leaves nothing to check.
    let Ok(expr) = parse_expr(source) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    visit(&expr, &mut found);
    let mut unique: Vec<Access> = Vec::with_capacity(found.len());
    for access in found {
        if !unique.contains(&access) {
            unique.push(access);
        }
    }
    unique
}

/// The variable and constant path an expression is made of, when it is only that.
fn path_of(expr: &ast::Expr<'_>) -> Option<(String, Vec<Segment>)> {
    match expr {
        ast::Expr::Var(var) => Some((var.id.to_owned(), Vec::new())),
        ast::Expr::GetAttr(get) => {
            let (root, mut path) = path_of(&get.expr)?;
            path.push(Segment::Key(get.name.to_owned()));
            Some((root, path))
        }
        ast::Expr::GetItem(get) => {
            let segment = constant_segment(&get.subscript_expr)?;
            let (root, mut path) = path_of(&get.expr)?;
            path.push(segment);
            Some((root, path))
        }
        _ => None,
    }
}

/// A subscript known before the run: a string or integer constant (`-1` included).
fn constant_segment(expr: &ast::Expr<'_>) -> Option<Segment> {
    match expr {
        ast::Expr::Const(c) => {
            if let Some(key) = c.value.as_str() {
                Some(Segment::Key(key.to_owned()))
            } else {
                c.value.as_i64().map(Segment::Index)
            }
        }
        ast::Expr::UnaryOp(op) if matches!(op.op, ast::UnaryOpKind::Neg) => {
            match constant_segment(&op.expr)? {
                Segment::Index(n) => n.checked_neg().map(Segment::Index),
                Segment::Key(_) => None,
            }
        }
        _ => None,
    }
}

fn visit(expr: &ast::Expr<'_>, out: &mut Vec<Access>) {
    if let Some((root, path)) = path_of(expr) {
        out.push(Access {
            root,
            path,
            looked_into: false,
        });
        return;
    }
    match expr {
        ast::Expr::Var(_) | ast::Expr::Const(_) => {}
        ast::Expr::Slice(slice) => {
            look_into(&slice.expr, out);
            for part in [&slice.start, &slice.stop, &slice.step]
                .into_iter()
                .flatten()
            {
                visit(part, out);
            }
        }
        ast::Expr::UnaryOp(op) => visit(&op.expr, out),
        ast::Expr::BinOp(op) => {
            visit(&op.left, out);
            visit(&op.right, out);
        }
        ast::Expr::Compare(compare) => {
            visit(&compare.expr, out);
            for op in &compare.ops {
                visit(&op.expr, out);
            }
        }
        ast::Expr::IfExpr(test) => {
            visit(&test.test_expr, out);
            visit(&test.true_expr, out);
            if let Some(other) = &test.false_expr {
                visit(other, out);
            }
        }
        ast::Expr::Filter(filter) => {
            if let Some(value) = &filter.expr {
                visit(value, out);
            }
            visit_args(&filter.args, out);
        }
        ast::Expr::Test(test) => {
            visit(&test.expr, out);
            visit_args(&test.args, out);
        }
        // The object is not a plain path (e.g. a call's result): only what is inside is checked.
        ast::Expr::GetAttr(get) => visit(&get.expr, out),
        ast::Expr::GetItem(get) => {
            look_into(&get.expr, out);
            visit(&get.subscript_expr, out);
        }
        ast::Expr::Call(call) => {
            match &call.expr {
                // A method call (`x.items()`): the receiver is looked into, the name is no field.
                ast::Expr::GetAttr(method) => look_into(&method.expr, out),
                other => visit(other, out),
            }
            visit_args(&call.args, out);
        }
        ast::Expr::List(list) => {
            for item in &list.items {
                visit(item, out);
            }
        }
        ast::Expr::Map(map) => {
            for item in map.keys.iter().chain(&map.values) {
                visit(item, out);
            }
        }
    }
}

/// Visits an expression whose value is looked into further in a way validation cannot follow.
fn look_into(expr: &ast::Expr<'_>, out: &mut Vec<Access>) {
    match path_of(expr) {
        Some((root, path)) => out.push(Access {
            root,
            path,
            looked_into: true,
        }),
        None => visit(expr, out),
    }
}

fn visit_args(args: &[ast::CallArg<'_>], out: &mut Vec<Access>) {
    for arg in args {
        match arg {
            ast::CallArg::Pos(e)
            | ast::CallArg::Kwarg(_, e)
            | ast::CallArg::PosSplat(e)
            | ast::CallArg::KwargSplat(e) => visit(e, out),
        }
    }
}

/// A piece of an interpolated string.
#[derive(Debug)]
pub(crate) enum Part {
    /// Text copied as it is.
    Text(String),
    /// An expression whose value is inserted (strings as they are, other values as JSON).
    Expr(CompiledExpr),
}

/// A compiled mapping.
#[derive(Debug)]
pub(crate) enum Mapping {
    /// A value without expressions, used as it is.
    Literal(Value),
    /// A string that is exactly one expression: keeps the expression's JSON type.
    Expr(CompiledExpr),
    /// A string mixing text and expressions.
    Interpolated(Vec<Part>),
    /// An array with at least one expression inside.
    Array(Vec<Mapping>),
    /// An object with at least one expression inside.
    Object(Vec<(String, Mapping)>),
}

/// A problem found while compiling a mapping, with the JSON pointer (relative to the mapping).
#[derive(Debug)]
pub(crate) struct MappingProblem {
    pub pointer: String,
    pub error: ExprError,
}

impl Mapping {
    /// Compiles a JSON value, collecting every expression error with its relative pointer.
    pub fn compile(value: &Value, problems: &mut Vec<MappingProblem>) -> Self {
        let mut pointer = String::new();
        Self::compile_at(value, &mut pointer, problems)
    }

    fn compile_at(value: &Value, pointer: &mut String, problems: &mut Vec<MappingProblem>) -> Self {
        match value {
            Value::String(text) => match parse_template(text) {
                Ok(Template::Literal) => Self::Literal(value.clone()),
                Ok(Template::Single(source)) => match CompiledExpr::compile(source) {
                    Ok(expr) => Self::Expr(expr),
                    Err(error) => {
                        problems.push(MappingProblem {
                            pointer: pointer.clone(),
                            error,
                        });
                        Self::Literal(Value::Null)
                    }
                },
                Ok(Template::Parts(parts)) => {
                    let mut compiled = Vec::with_capacity(parts.len());
                    for part in parts {
                        match part {
                            RawPart::Text(t) => compiled.push(Part::Text(t)),
                            RawPart::Expr(source) => match CompiledExpr::compile(source) {
                                Ok(expr) => compiled.push(Part::Expr(expr)),
                                Err(error) => problems.push(MappingProblem {
                                    pointer: pointer.clone(),
                                    error,
                                }),
                            },
                        }
                    }
                    Self::Interpolated(compiled)
                }
                Err(error) => {
                    problems.push(MappingProblem {
                        pointer: pointer.clone(),
                        error,
                    });
                    Self::Literal(Value::Null)
                }
            },
            Value::Array(items) => {
                let compiled: Vec<Mapping> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&i.to_string());
                        let m = Self::compile_at(item, pointer, problems);
                        pointer.truncate(len);
                        m
                    })
                    .collect();
                if compiled.iter().all(Mapping::is_literal) {
                    Self::Literal(value.clone())
                } else {
                    Self::Array(compiled)
                }
            }
            Value::Object(map) => {
                let compiled: Vec<(String, Mapping)> = map
                    .iter()
                    .map(|(key, item)| {
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&crate::locate::escape_token(key));
                        let m = Self::compile_at(item, pointer, problems);
                        pointer.truncate(len);
                        (key.clone(), m)
                    })
                    .collect();
                if compiled.iter().all(|(_, m)| m.is_literal()) {
                    Self::Literal(value.clone())
                } else {
                    Self::Object(compiled)
                }
            }
            other => Self::Literal(other.clone()),
        }
    }

    /// Whether the mapping has no expression at all.
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// Every expression in the mapping, with its pointer relative to the mapping.
    pub fn expressions(&self) -> Vec<(String, &CompiledExpr)> {
        let mut out = Vec::new();
        self.collect(&mut String::new(), &mut out);
        out
    }

    fn collect<'m>(&'m self, pointer: &mut String, out: &mut Vec<(String, &'m CompiledExpr)>) {
        match self {
            Self::Literal(_) => {}
            Self::Expr(e) => out.push((pointer.clone(), e)),
            Self::Interpolated(parts) => {
                for part in parts {
                    if let Part::Expr(e) = part {
                        out.push((pointer.clone(), e));
                    }
                }
            }
            Self::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    item.collect(pointer, out);
                    pointer.truncate(len);
                }
            }
            Self::Object(entries) => {
                for (key, item) in entries {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&crate::locate::escape_token(key));
                    item.collect(pointer, out);
                    pointer.truncate(len);
                }
            }
        }
    }

    /// Renders the mapping to JSON in a scope.
    pub fn render(&self, scope: &MjValue) -> Result<Value, ExprError> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Expr(e) => to_json(&e.eval(scope)?, &e.source),
            Self::Interpolated(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(e) => {
                            let value = e.eval(scope)?;
                            if let Some(s) = value.as_str() {
                                out.push_str(s);
                            } else {
                                out.push_str(&to_json(&value, &e.source)?.to_string());
                            }
                        }
                    }
                }
                Ok(Value::String(out))
            }
            Self::Array(items) => items
                .iter()
                .map(|m| m.render(scope))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Self::Object(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (key, m) in entries {
                    map.insert(key.clone(), m.render(scope)?);
                }
                Ok(Value::Object(map))
            }
        }
    }

    /// Renders the mapping to a minijinja value (for `for_each` sources, which are iterated).
    pub fn render_value(&self, scope: &MjValue) -> Result<MjValue, ExprError> {
        match self {
            Self::Expr(e) => e.eval(scope),
            other => Ok(MjValue::from_serialize(other.render(scope)?)),
        }
    }
}

/// Converts a minijinja value to JSON, refusing values JSON cannot hold.
pub(crate) fn to_json(value: &MjValue, source: &str) -> Result<Value, ExprError> {
    let source = excerpt(source);
    if value.kind() == ValueKind::Undefined {
        return Err(ExprError::new(format!("`{{{{ {source} }}}}` is undefined")));
    }
    serde_json::to_value(value).map_err(|e| {
        ExprError::new(format!(
            "`{{{{ {source} }}}}` has no JSON representation: {}",
            excerpt(&e.to_string())
        ))
    })
}

/// The shape of a string: no expression, exactly one, or a mix.
#[derive(Debug, PartialEq)]
pub(crate) enum Template<'t> {
    Literal,
    Single(&'t str),
    Parts(Vec<RawPart<'t>>),
}

/// A piece of a string before compilation.
#[derive(Debug, PartialEq)]
pub(crate) enum RawPart<'t> {
    Text(String),
    Expr(&'t str),
}

/// Splits a string into text and `{{ ... }}` pieces (`}}` inside a quoted string does not close).
pub(crate) fn parse_template(text: &str) -> Result<Template<'_>, ExprError> {
    if !text.contains("{{") {
        return Ok(Template::Literal);
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(RawPart::Text(rest[..open].to_owned()));
        }
        let body = &rest[open + 2..];
        let close = find_close(body).ok_or_else(|| {
            ExprError::new(format!(
                "`{{{{` without a matching `}}}}` in \"{}\"",
                excerpt(text)
            ))
        })?;
        parts.push(RawPart::Expr(&body[..close]));
        rest = &body[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(RawPart::Text(rest.to_owned()));
    }
    if let [RawPart::Expr(single)] = parts.as_slice() {
        return Ok(Template::Single(single));
    }
    Ok(Template::Parts(parts))
}

fn find_close(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// The results of the steps run so far, shared read-only by every evaluation of a run.
#[derive(Debug)]
pub(crate) struct StepsView {
    ids: Arc<HashMap<String, usize>>,
    slots: Vec<OnceLock<MjValue>>,
}

impl StepsView {
    pub fn new(ids: Arc<HashMap<String, usize>>, count: usize) -> Self {
        Self {
            ids,
            slots: (0..count).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Sets a step's result once, as `{"output": ...}`.
    pub fn set(&self, index: usize, output: &Value) {
        let entry = MjValue::from_iter([("output", MjValue::from_serialize(output))]);
        // A step's result is set once per run; a second set is ignored.
        let _first = self.slots[index].set(entry);
    }
}

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let index = *self.ids.get(key.as_str()?)?;
        self.slots.get(index)?.get().cloned()
    }
}

/// The variables one evaluation sees: `inputs`, `steps`, and the loop's variables.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub inputs: MjValue,
    pub steps: MjValue,
    pub item_name: Option<Arc<str>>,
    pub item: Option<MjValue>,
    pub batch: Option<MjValue>,
    pub loop_: Option<MjValue>,
}

impl Scope {
    /// The scope of a step outside any loop.
    pub fn top(inputs: MjValue, steps: MjValue) -> Self {
        Self {
            inputs,
            steps,
            item_name: None,
            item: None,
            batch: None,
            loop_: None,
        }
    }

    /// This scope as a minijinja value to evaluate in.
    pub fn value(self) -> MjValue {
        MjValue::from_object(self)
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        match key.as_str()? {
            "inputs" => Some(self.inputs.clone()),
            "steps" => Some(self.steps.clone()),
            "batch" => self.batch.clone(),
            "loop" => self.loop_.clone(),
            name if self.item_name.as_deref() == Some(name) => self.item.clone(),
            _ => None,
        }
    }
}

/// The `loop` variable of one call in a `for_each`.
pub(crate) fn loop_value(index0: u64, length: Option<u64>) -> MjValue {
    let mut entries = vec![
        ("index", MjValue::from(index0 + 1)),
        ("index0", MjValue::from(index0)),
        ("first", MjValue::from(index0 == 0)),
    ];
    if let Some(length) = length {
        entries.push(("length", MjValue::from(length)));
        entries.push(("last", MjValue::from(index0 + 1 == length)));
    }
    MjValue::from_iter(entries)
}

#[cfg(test)]
mod tests;
