use super::*;
use serde_json::json;

fn scope(inputs: Value) -> MjValue {
    let view = StepsView::new(Arc::new(HashMap::from([("find".to_owned(), 0)])), 1);
    view.set(
        0,
        &json!({"contacts": [{"contact_id": "c-1"}], "created": true}),
    );
    Scope::top(MjValue::from_serialize(&inputs), MjValue::from_object(view)).value()
}

fn render(mapping: Value, inputs: Value) -> Result<Value, ExprError> {
    let mut problems = Vec::new();
    let m = Mapping::compile(&mapping, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    m.render(&scope(inputs))
}

#[test]
fn a_single_expression_keeps_its_json_type() {
    let inputs = json!({"n": 3, "tags": ["a", "b"], "flag": false, "obj": {"k": null}});
    let out = render(
        json!({"n": "{{ inputs.n }}", "tags": "{{inputs.tags}}", "flag": "{{ inputs.flag }}",
               "obj": "{{ inputs.obj }}", "sum": "{{ inputs.n + 1 }}", "lit": [1, true]}),
        inputs,
    )
    .expect("renders");
    assert_eq!(
        out,
        json!({"n": 3, "tags": ["a", "b"], "flag": false, "obj": {"k": null}, "sum": 4, "lit": [1, true]})
    );
}

#[test]
fn other_strings_interpolate() {
    let out = render(
        json!([
            "Hello {{ inputs.name }}!",
            "n={{ inputs.n }} {{ inputs.tags }}",
            "no {{ '}}' }} end"
        ]),
        json!({"name": "Ada", "n": 2, "tags": ["x"]}),
    )
    .expect("renders");
    assert_eq!(out, json!(["Hello Ada!", "n=2 [\"x\"]", "no }} end"]));
}

#[test]
fn step_outputs_are_reachable() {
    let out = render(
        json!({"id": "{{ steps.find.output.contacts[0].contact_id }}", "c": "{{ steps.find.output.created }}"}),
        json!({}),
    )
    .expect("renders");
    assert_eq!(out, json!({"id": "c-1", "c": true}));
}

#[test]
fn undefined_variables_are_errors() {
    let missing_key = render(json!("{{ inputs.missing }}"), json!({})).expect_err("undefined");
    assert_eq!(missing_key.message, "`{{ inputs.missing }}` is undefined");
    let in_text = render(json!("Hi {{ inputs.missing }}"), json!({})).expect_err("undefined");
    assert!(in_text.message.contains("undefined"), "{in_text}");
    let unknown_root = render(json!("{{ nope.x }}"), json!({})).expect_err("undefined");
    assert!(unknown_root.message.contains("undefined"), "{unknown_root}");
    let defaulted = render(json!("{{ inputs.missing | default('d') }}"), json!({}));
    assert_eq!(defaulted, Ok(json!("d")));
}

#[test]
fn syntax_errors_are_reported_with_their_pointer() {
    let mut problems = Vec::new();
    Mapping::compile(
        &json!({"a": {"b": ["ok", "{{ inputs. }}"]}, "c": "{{ open"}),
        &mut problems,
    );
    let found: Vec<(String, String)> = problems
        .into_iter()
        .map(|p| (p.pointer, p.error.message))
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "/a/b/1");
    assert!(found[0].1.contains("syntax error"), "{found:?}");
    assert_eq!(found[1].0, "/c");
    assert!(found[1].1.contains("without a matching"), "{found:?}");
}

fn paths(source: &str) -> Vec<(String, bool)> {
    CompiledExpr::compile(source)
        .expect("compiles")
        .accesses()
        .iter()
        .map(|a| (a.display(), a.looked_into))
        .collect()
}

#[test]
fn accesses_follow_attributes_and_constant_subscripts() {
    assert_eq!(
        paths("steps.find.output.contacts[0].id ~ inputs.email"),
        [
            ("steps.find.output.contacts[0].id".to_owned(), false),
            ("inputs.email".to_owned(), false)
        ]
    );
    assert_eq!(
        paths(r#"steps.a.output["odd key"].x.1 + steps.a.output.items[-1]"#),
        [
            (r#"steps.a.output["odd key"].x[1]"#.to_owned(), false),
            ("steps.a.output.items[-1]".to_owned(), false)
        ]
    );
}

#[test]
fn accesses_say_whether_the_value_itself_is_used() {
    assert_eq!(
        paths("steps.add | length"),
        [("steps.add".to_owned(), false)]
    );
    assert_eq!(
        paths("steps.add.output[inputs.k]"),
        [
            ("steps.add.output".to_owned(), true),
            ("inputs.k".to_owned(), false)
        ]
    );
    assert_eq!(
        paths("steps.a.output.name.upper() if steps.a.output.tags[1:] else range(2)"),
        [
            ("steps.a.output.tags".to_owned(), true),
            ("steps.a.output.name".to_owned(), true),
            ("range".to_owned(), false)
        ]
    );
    // Repeats are listed once; names inside strings are no access.
    assert_eq!(
        paths("inputs.a ~ inputs.a ~ 'steps.x' | default(inputs.b)"),
        [
            ("inputs.a".to_owned(), false),
            ("inputs.b".to_owned(), false)
        ]
    );
}

#[test]
fn long_expressions_are_quoted_by_their_start() {
    let long = format!("inputs.a + {}", "1 + ".repeat(10_000));
    let error = CompiledExpr::compile(&long).expect_err("ends with +");
    assert!(error.message.len() < 1_000, "{}", error.message);
    let unclosed = format!("{{{{ {}", "x".repeat(100_000));
    let error = parse_template(&unclosed).expect_err("unclosed");
    assert!(error.message.len() < 1_000, "{}", error.message);
}

#[test]
fn compiled_expressions_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mapping>();
}
