//! Limits on the values an expression makes, so one expression cannot exhaust memory.
//!
//! Expressions are straight-line code (no loops, no macros): minijinja's fuel, which counts
//! instructions, would bound nothing the expression's length does not bound already. What can
//! allocate without bound is one operation that multiplies a size by a number: `*` on a string or
//! a sequence (minijinja repeats sequences lazily and without limit, so `[1] * 100000000` asked for
//! 7.2 GB once serialized), and the filters `batch`, `slice`, `indent`, `join`, `replace` and
//! `format`. Each is checked here before it allocates. `range` is capped at 100,000 items by
//! minijinja itself, and the other operations only add up sizes that exist already.

use std::sync::OnceLock;

use minijinja::machinery::{Token, WhitespaceConfig, ast, parse_expr, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Expression, State};

/// The largest value, in bytes of its JSON, that one repetition in an expression may make.
pub(crate) const MAX_VALUE_BYTES: usize = 10_000_000;

/// The function every `a * b` of an expression is compiled to (see [`guard_multiplications`]).
pub(crate) const MULTIPLY: &str = "__plugboard_multiply";

/// Adds the checked `*` and the checked filters to `env`.
pub(crate) fn install(env: &mut Environment<'static>) {
    env.add_function(MULTIPLY, multiply);
    guard(
        env,
        "batch",
        Value::from_function(minijinja::filters::batch),
        check_chunks,
    );
    guard(
        env,
        "slice",
        Value::from_function(minijinja::filters::slice),
        check_chunks,
    );
    guard(
        env,
        "indent",
        Value::from_function(minijinja::filters::indent),
        check_indent,
    );
    guard(
        env,
        "replace",
        Value::from_function(minijinja::filters::replace),
        check_replace,
    );
    guard(
        env,
        "format",
        Value::from_function(minijinja::filters::format),
        check_format,
    );
    let join = Value::from_function(minijinja::filters::join);
    env.add_filter("join", move |state: &State<'_, '_>, args: Rest<Value>| {
        join.call(state, &check_join(args.0)?)
    });
}

/// Replaces filter `name` by `original` preceded by `check` of its arguments.
fn guard(
    env: &mut Environment<'static>,
    name: &'static str,
    original: Value,
    check: fn(&[Value]) -> Result<(), Error>,
) {
    env.add_filter(name, move |state: &State<'_, '_>, args: Rest<Value>| {
        check(&args)?;
        original.call(state, &args)
    });
}

fn too_large(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "{what} would make a value larger than {} MB, the limit for a value made in an \
             expression",
            MAX_VALUE_BYTES / 1_000_000
        ),
    )
}

/// Whether `count` copies of something of `each` bytes stay within the limit.
fn fits(count: usize, each: usize) -> bool {
    count
        .checked_mul(each)
        .is_some_and(|total| total <= MAX_VALUE_BYTES)
}

/// About the size of `value` as JSON, in bytes; counting stops once it passes `budget`.
///
/// A lazily repeated sequence is measured by walking it, so the walk is what the budget bounds.
/// An iterable of unknown length is counted as small: walking it could consume it.
fn size(value: &Value, budget: usize) -> usize {
    match value.kind() {
        ValueKind::String => value.as_str().map_or(8, str::len) + 2,
        ValueKind::Bytes => value.as_bytes().map_or(8, <[u8]>::len),
        ValueKind::Seq | ValueKind::Iterable if value.len().is_some() => {
            let mut total = 2;
            if let Ok(items) = value.try_iter() {
                for item in items {
                    total += size(&item, budget.saturating_sub(total)) + 1;
                    if total > budget {
                        break;
                    }
                }
            }
            total
        }
        ValueKind::Map => {
            let mut total = 2;
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let item = value.get_item(&key).unwrap_or_default();
                    total += size(&key, budget) + size(&item, budget.saturating_sub(total)) + 2;
                    if total > budget {
                        break;
                    }
                }
            }
            total
        }
        _ => 8,
    }
}

/// `a * b`, refused when it repeats a string or a sequence past the limit.
fn multiply(a: Value, b: Value) -> Result<Value, Error> {
    // The operand repeated, as minijinja picks it: a string on either side first.
    let is_sequence = |v: &Value| matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable);
    let repeated = if a.as_str().is_some() {
        Some((&a, &b))
    } else if b.as_str().is_some() {
        Some((&b, &a))
    } else if is_sequence(&a) {
        Some((&a, &b))
    } else if is_sequence(&b) {
        Some((&b, &a))
    } else {
        None
    };
    if let Some((unit, count)) = repeated
        && let Some(count) = count.as_usize()
        && count > 0
    {
        let each = match unit.as_str() {
            Some(text) => text.len(),
            None => size(unit, MAX_VALUE_BYTES / count + 1),
        };
        if !fits(count, each) {
            return Err(too_large("`*`"));
        }
    }
    plain_multiply(a, b)
}

/// minijinja's own `a * b`, for the cases [`multiply`] lets through.
fn plain_multiply(a: Value, b: Value) -> Result<Value, Error> {
    static PLAIN: OnceLock<Environment<'static>> = OnceLock::new();
    static PRODUCT: OnceLock<Result<Expression<'static, 'static>, String>> = OnceLock::new();
    let product = PRODUCT.get_or_init(|| {
        PLAIN
            .get_or_init(Environment::new)
            .compile_expression("a * b")
            .map_err(|e| e.to_string())
    });
    match product {
        Ok(product) => product.eval(minijinja::context! { a => a, b => b }),
        Err(error) => Err(Error::new(ErrorKind::InvalidOperation, error.clone())),
    }
}

/// `batch(count, fill_with)` and `slice(count, fill_with)` make `count` lists (or lists of
/// `count` items), each holding `fill_with` at most once.
fn check_chunks(args: &[Value]) -> Result<(), Error> {
    let Some(count) = args.get(1).and_then(Value::as_usize) else {
        return Ok(());
    };
    let fill = args.get(2).map_or(0, |fill| size(fill, MAX_VALUE_BYTES));
    if fits(count, fill.max(16)) {
        Ok(())
    } else {
        Err(too_large("this `batch` or `slice`"))
    }
}

/// `indent(width)` puts `width` spaces before every line.
fn check_indent(args: &[Value]) -> Result<(), Error> {
    let width = args
        .get(1)
        .and_then(Value::as_usize)
        .or_else(|| keyword(args, "width").and_then(|w| w.as_usize()));
    let lines = args
        .first()
        .and_then(Value::as_str)
        .map_or(1, |text| text.matches('\n').count() + 1);
    match width {
        Some(width) if !fits(lines, width) => Err(too_large("`indent`")),
        _ => Ok(()),
    }
}

/// The keyword argument `name`, when the last argument holds the keyword arguments.
fn keyword(args: &[Value], name: &str) -> Option<Value> {
    args.last()
        .filter(|last| last.is_kwargs())
        .and_then(|kwargs| kwargs.get_attr(name).ok())
        .filter(|value| !value.is_undefined())
}

/// `replace(from, to)` adds `to` once per occurrence of `from` (between every character when
/// `from` is empty).
fn check_replace(args: &[Value]) -> Result<(), Error> {
    let (Some(text), Some(from)) = (
        args.first().and_then(Value::as_str),
        args.get(1).and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    let to = args.get(2).map_or(0, |to| size(to, MAX_VALUE_BYTES));
    let occurrences = if from.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(from).count()
    };
    if fits(occurrences, to) {
        Ok(())
    } else {
        Err(too_large("`replace`"))
    }
}

/// A printf width or precision pads to that many characters: each is checked, and a `*` one takes
/// an argument, so then every integer argument is.
fn check_format(args: &[Value]) -> Result<(), Error> {
    let Some(template) = args.first().and_then(Value::as_str) else {
        return Ok(());
    };
    let bytes = template.as_bytes();
    let mut starred = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        if bytes.get(i) == Some(&b'(') {
            while bytes.get(i).is_some_and(|&c| c != b')') {
                i += 1;
            }
            i += 1;
        }
        while let Some(&c) = bytes.get(i) {
            if c.is_ascii_digit() {
                let start = i;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let number = template[start..i].parse::<usize>().unwrap_or(usize::MAX);
                if number > MAX_VALUE_BYTES {
                    return Err(too_large("this `format` width"));
                }
            } else if b"#- +.*".contains(&c) {
                starred |= c == b'*';
                i += 1;
            } else {
                break;
            }
        }
    }
    let too_wide = |v: &Value| {
        v.as_i64()
            .is_some_and(|n| n.unsigned_abs() > MAX_VALUE_BYTES as u64)
    };
    if starred && args.iter().skip(1).any(too_wide) {
        return Err(too_large("this `format` width"));
    }
    Ok(())
}

/// `join(sep)` adds `sep` between every two items; an iterable of unknown length is collected
/// first (its items exist already) so they can be counted without being consumed twice.
fn check_join(mut args: Vec<Value>) -> Result<Vec<Value>, Error> {
    let Some(value) = args.first() else {
        return Ok(args);
    };
    let count = match value.len() {
        Some(count) => count,
        None if value.kind() == ValueKind::Iterable => match value.try_iter() {
            Ok(items) => {
                let items: Vec<Value> = items.collect();
                let count = items.len();
                args[0] = Value::from(items);
                count
            }
            Err(_) => return Ok(args),
        },
        None => return Ok(args),
    };
    let separator = args.get(1).map_or(0, |sep| size(sep, MAX_VALUE_BYTES));
    if fits(count.saturating_sub(1), separator) {
        Ok(args)
    } else {
        Err(too_large("`join`"))
    }
}

/// One `a * b` in an expression: where it starts and ends, and where its operator is (byte
/// offsets).
#[derive(Debug, Clone, Copy)]
struct Product {
    start: usize,
    end: usize,
    operator: (usize, usize),
}

/// `source` with every `a * b` rewritten as `__plugboard_multiply(a, b)`, so the size of a
/// repetition is checked before minijinja makes it; `None` when there is nothing to rewrite or
/// the source does not parse (compiling it reports that).
///
/// The operands are copied as written, by their byte ranges in `source`, and the result is parsed
/// again to make sure every `*` became a call; an expression that cannot be rewritten so is
/// refused (an error) rather than left unchecked.
pub(crate) fn guard_multiplications(source: &str) -> Result<Option<String>, String> {
    let Ok(expr) = parse_expr(source) else {
        return Ok(None);
    };
    let mut spans = Vec::new();
    products(&expr, &mut spans);
    if spans.is_empty() {
        return Ok(None);
    }
    // A unit struct unless minijinja's `custom_syntax` feature is on somewhere in the build.
    #[allow(clippy::default_constructed_unit_structs)]
    let syntax = SyntaxConfig::default();
    let tokens: Vec<(Token<'_>, usize, usize)> =
        tokenize(source, true, syntax, WhitespaceConfig::default())
            .map(|token| token.map(|(t, s)| (t, s.start_offset as usize, s.end_offset as usize)))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
    let mut found = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        found.push(Product {
            start,
            end,
            operator: operator(&tokens, start, end).ok_or("the operator of a `*` was not found")?,
        });
    }
    // Outermost first: by start, then the longest.
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(source.len() + found.len() * (MULTIPLY.len() + 4));
    rewrite(source, 0, source.len(), &found, &mut out).ok_or("a `*` could not be rewritten")?;
    let check = parse_expr(&out).map_err(|e| e.to_string())?;
    let mut left = Vec::new();
    products(&check, &mut left);
    if !left.is_empty() || calls_to_multiply(&check) != found.len() {
        return Err("a `*` could not be rewritten".to_owned());
    }
    Ok(Some(out))
}

/// The last `*` token at the top level of `start..end`: the operator of a product spanning that
/// range (its right operand binds tighter than `*`, so holds none outside brackets).
fn operator(
    tokens: &[(Token<'_>, usize, usize)],
    start: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let mut depth = 0i32;
    let mut last = None;
    for (token, from, to) in tokens {
        if *from < start || *to > end {
            continue;
        }
        match token {
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => depth += 1,
            Token::ParenClose | Token::BracketClose | Token::BraceClose => depth -= 1,
            Token::Mul if depth == 0 => last = Some((*from, *to)),
            _ => {}
        }
    }
    last
}

/// Writes `source[from..to]` with the products inside it rewritten as calls.
fn rewrite(
    source: &str,
    from: usize,
    to: usize,
    products: &[Product],
    out: &mut String,
) -> Option<()> {
    let mut at = from;
    for product in products {
        if product.start < at || product.start < from || product.end > to {
            continue;
        }
        out.push_str(source.get(at..product.start)?);
        out.push_str(MULTIPLY);
        out.push_str("((");
        rewrite(source, product.start, product.operator.0, products, out)?;
        out.push_str("), (");
        rewrite(source, product.operator.1, product.end, products, out)?;
        out.push_str("))");
        at = product.end;
    }
    out.push_str(source.get(at..to)?);
    Some(())
}

/// The byte ranges of every `a * b` in `expr`.
fn products(expr: &ast::Expr<'_>, out: &mut Vec<(usize, usize)>) {
    walk(expr, &mut |node| {
        if let ast::Expr::BinOp(op) = node
            && matches!(op.op, ast::BinOpKind::Mul)
        {
            let span = op.span();
            out.push((span.start_offset as usize, span.end_offset as usize));
        }
    });
}

/// How many calls of [`MULTIPLY`] `expr` makes.
fn calls_to_multiply(expr: &ast::Expr<'_>) -> usize {
    let mut count = 0;
    walk(expr, &mut |node| {
        if let ast::Expr::Call(call) = node
            && let ast::Expr::Var(var) = &call.expr
            && var.id == MULTIPLY
        {
            count += 1;
        }
    });
    count
}

/// Calls `visit` on `expr` and every expression inside it.
fn walk<'a>(expr: &ast::Expr<'a>, visit: &mut dyn FnMut(&ast::Expr<'a>)) {
    visit(expr);
    let args = |args: &[ast::CallArg<'a>], visit: &mut dyn FnMut(&ast::Expr<'a>)| {
        for arg in args {
            match arg {
                ast::CallArg::Pos(e)
                | ast::CallArg::Kwarg(_, e)
                | ast::CallArg::PosSplat(e)
                | ast::CallArg::KwargSplat(e) => walk(e, visit),
            }
        }
    };
    match expr {
        ast::Expr::Var(_) | ast::Expr::Const(_) => {}
        ast::Expr::Slice(slice) => {
            walk(&slice.expr, visit);
            for part in [&slice.start, &slice.stop, &slice.step]
                .into_iter()
                .flatten()
            {
                walk(part, visit);
            }
        }
        ast::Expr::UnaryOp(op) => walk(&op.expr, visit),
        ast::Expr::BinOp(op) => {
            walk(&op.left, visit);
            walk(&op.right, visit);
        }
        ast::Expr::Compare(compare) => {
            walk(&compare.expr, visit);
            for op in &compare.ops {
                walk(&op.expr, visit);
            }
        }
        ast::Expr::IfExpr(test) => {
            walk(&test.test_expr, visit);
            walk(&test.true_expr, visit);
            if let Some(other) = &test.false_expr {
                walk(other, visit);
            }
        }
        ast::Expr::Filter(filter) => {
            if let Some(value) = &filter.expr {
                walk(value, visit);
            }
            args(&filter.args, visit);
        }
        ast::Expr::Test(test) => {
            walk(&test.expr, visit);
            args(&test.args, visit);
        }
        ast::Expr::GetAttr(get) => walk(&get.expr, visit),
        ast::Expr::GetItem(get) => {
            walk(&get.expr, visit);
            walk(&get.subscript_expr, visit);
        }
        ast::Expr::Call(call) => {
            walk(&call.expr, visit);
            args(&call.args, visit);
        }
        ast::Expr::List(list) => {
            for item in &list.items {
                walk(item, visit);
            }
        }
        ast::Expr::Map(map) => {
            for item in map.keys.iter().chain(&map.values) {
                walk(item, visit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded(source: &str) -> String {
        guard_multiplications(source)
            .expect("rewrites")
            .unwrap_or_else(|| source.to_owned())
    }

    #[test]
    fn every_product_becomes_a_call_with_its_operands_as_written() {
        let m = MULTIPLY;
        assert_eq!(guarded("a + 1"), "a + 1");
        assert_eq!(guarded("a * 2"), format!("{m}((a ), ( 2))"));
        assert_eq!(
            guarded("a * b * c"),
            format!("{m}(({m}((a ), ( b)) ), ( c))")
        );
        assert_eq!(
            guarded("(x | f) * g(y * 2)[0] ** 2"),
            format!("{m}(((x | f) ), ( g({m}((y ), ( 2)))[0] ** 2))")
        );
        assert_eq!(
            guarded("[1, 2] * 3 | length"),
            format!("{m}(([1, 2] ), ( 3 | length))")
        );
        assert_eq!(guarded("'*' ~ (a*b)"), format!("'*' ~ ({m}((a), (b)))"));
        assert_eq!(
            guarded("x if a * b else (1, 2) * 2"),
            format!("x if {m}((a ), ( b)) else {m}(((1, 2) ), ( 2))")
        );
    }

    fn eval(source: &str) -> Result<serde_json::Value, String> {
        let expr = crate::expr::CompiledExpr::compile(source).map_err(|e| e.message)?;
        let value = expr
            .eval(&Value::from_serialize(serde_json::json!({"text": "a\nb"})))
            .map_err(|e| e.message)?;
        crate::expr::to_json(&value, source).map_err(|e| e.message)
    }

    #[test]
    fn small_repetitions_and_filters_work_as_before() {
        use serde_json::json;
        assert_eq!(eval("'-' * 3"), Ok(json!("---")));
        assert_eq!(eval("3 * '-'"), Ok(json!("---")));
        assert_eq!(eval("[1, 2] * 2"), Ok(json!([1, 2, 1, 2])));
        assert_eq!(eval("2 * 3 * 4"), Ok(json!(24)));
        assert_eq!(eval("2.5 * 2"), Ok(json!(5.0)));
        assert_eq!(eval("[1] * 0"), Ok(json!([])));
        assert_eq!(
            eval("[1, 2, 3] | batch(2) | list"),
            Ok(json!([[1, 2], [3]]))
        );
        assert_eq!(
            eval("[1, 2, 3] | batch(2, 0) | list"),
            Ok(json!([[1, 2], [3, 0]]))
        );
        assert_eq!(
            eval("[1, 2, 3] | slice(2) | list"),
            Ok(json!([[1, 2], [3]]))
        );
        assert_eq!(eval("text | indent(2, true)"), Ok(json!("  a\n  b")));
        assert_eq!(
            eval("text | indent(width=1, first=true)"),
            Ok(json!(" a\n b"))
        );
        assert_eq!(eval("[1, 2] | join(',')"), Ok(json!("1,2")));
        assert_eq!(eval("[1, 2] | join"), Ok(json!("12")));
        assert_eq!(
            eval("range(3) | map('string') | join('-')"),
            Ok(json!("0-1-2"))
        );
        assert_eq!(eval("'abc' | replace('b', 'xy')"), Ok(json!("axyc")));
        assert_eq!(
            eval("'%5s|%-3d|%%' | format('x', 7)"),
            Ok(json!("    x|7  |%"))
        );
        let mismatch = eval("'a' * 'b'").expect_err("not a number");
        assert!(mismatch.contains("multiplied with integers"), "{mismatch}");
    }

    #[test]
    fn repetitions_past_the_limit_are_refused_before_they_are_made() {
        for source in [
            "[1] * 100000000",
            "100000000 * [1]",
            "[[1] * 1000] * 1000000",
            "['x' * 1000000] * 1000",
            "'ab' * 6000000",
            "(text * 2) * 10000000",
            "[1] | batch(10000000000)",
            "[1] | slice(10000000000, 0)",
            "text | indent(10000000000)",
            "text | indent(width=10000000000)",
            "range(100000) | join('x' * 1000)",
            "(range(100000) | map('string')) | join('x' * 1000)",
            "('a' * 1000000) | replace('a', 'bb' * 10)",
            "'%10000000000s' | format('x')",
            "'%*s' | format(10000000000, 'x')",
        ] {
            let error = eval(source).expect_err(source);
            assert!(
                error.contains("limit for a value made in an expression"),
                "{source}: {error}"
            );
        }
    }
}
