//! What an expression may refer to where it sits: inputs, earlier steps' outputs (down to the
//! fields their output schemas name), loop variables.

use plugboard_core::OutputShape;

use crate::excerpt::excerpt;
use crate::expr::{Access, CompiledExpr, Mapping, Segment, display_path};
use crate::model::OnError;
use crate::shape::{self, Finding, Shape, StepOutput};

use super::{Action, Catalog, Checker, CompiledStep, ExprContext, Source, records_pointer};

impl<'w, 'p, 'l> Checker<'w, 'p, 'l> {
    pub(super) fn check_references(&mut self, i: usize, step: &CompiledStep) {
        let at = format!("/steps/{i}");
        let top = ExprContext {
            step: i,
            item: None,
            batch: false,
            in_loop: false,
        };
        if let Some(condition) = &step.condition {
            self.check_expr_refs(condition, &format!("{at}/if"), top);
        }
        if let Some(Source::Values(mapping)) = &step.for_each {
            self.check_mapping_refs(mapping, &format!("{at}/for_each"), top);
        }
        if let (Some(records_to), Some(written)) =
            (&step.records_to, &self.workflow.steps[i].records_to)
        {
            self.check_mapping_refs(&records_to.path, &records_pointer(&at, written), top);
        }
        match &step.action {
            Action::Call { input, .. } => {
                // The written `for_each` decides the loop variables, even when it did not compile,
                // so one mistake is not reported twice.
                let ctx = if self.workflow.steps[i].for_each.is_some() {
                    ExprContext {
                        step: i,
                        item: step.batch.is_none().then_some(&*step.item_name),
                        batch: step.batch.is_some(),
                        in_loop: true,
                    }
                } else {
                    top
                };
                self.check_mapping_refs(input, &format!("{at}/input"), ctx);
            }
            Action::Read { path, .. } => {
                self.check_mapping_refs(path, &format!("{at}/read/path"), top)
            }
        }
    }

    pub(super) fn check_mapping_refs(&mut self, mapping: &Mapping, at: &str, ctx: ExprContext<'_>) {
        for (pointer, expr) in mapping.expressions() {
            self.check_expr_refs(expr, &format!("{at}{pointer}"), ctx);
        }
    }

    pub(super) fn check_expr_refs(&mut self, expr: &CompiledExpr, at: &str, ctx: ExprContext<'_>) {
        for access in expr.accesses() {
            match self.reference_problem(access, ctx) {
                Some(Finding::Error(message)) => self.problems.add(at, message),
                Some(Finding::Warning(message)) => self.problems.warn(at, message),
                None => {}
            }
        }
    }

    /// What the engine will find at `steps.<id>.output` for step `i`: the value its method
    /// returns (a streaming method's final summary, not its records), an array of them for a
    /// `for_each` over values, counts for a `for_each` over a stream or a `read`, and the error
    /// `on_error: continue` records instead of a failed call's output.
    pub(super) fn step_output(&self, i: usize, step: &CompiledStep) -> Option<StepOutput<'w>> {
        let written = &self.workflow.steps[i];
        if written.for_each.is_some() && step.for_each.is_none() {
            // The `for_each` did not compile: reported already, and the shape is unknown.
            return None;
        }
        let continues = written.on_error == OnError::Continue;
        let catalog: &'w dyn Catalog = self.catalog;
        match &step.action {
            Action::Call {
                connector, method, ..
            } => {
                let descriptor = catalog.manifest(connector)?.method(method)?;
                let returned = Shape::schema(descriptor.output_schema.as_value());
                let (shape, repeated) = match &step.for_each {
                    Some(Source::Stream(_)) => (Shape::schema(shape::stream_summary()), false),
                    Some(Source::Values(_)) if continues => {
                        (Shape::Array(Box::new(returned.or_continued_error())), true)
                    }
                    Some(Source::Values(_)) => (Shape::Array(Box::new(returned)), true),
                    None if continues => (returned.or_continued_error(), false),
                    None => (returned, false),
                };
                Some(StepOutput {
                    shape,
                    method: Some(descriptor.id.clone()),
                    records: match &step.for_each {
                        None if descriptor.output == OutputShape::Records => descriptor
                            .record_schema
                            .as_ref()
                            .map(schemars::Schema::as_value),
                        _ => None,
                    },
                    repeated,
                })
            }
            Action::Read { .. } => {
                let read = Shape::schema(shape::read_summary());
                Some(StepOutput {
                    shape: if continues {
                        read.or_continued_error()
                    } else {
                        read
                    },
                    method: None,
                    records: None,
                    repeated: false,
                })
            }
        }
    }

    /// Whether step `j` gives a record stream a later `for_each` can read: a `read`, or a call
    /// of a streaming method, without a `for_each` of its own.
    pub(super) fn streams_records(&self, j: usize) -> bool {
        let step = &self.workflow.steps[j];
        if step.for_each.is_some() {
            return false;
        }
        if step.read.is_some() {
            return true;
        }
        step.call
            .as_deref()
            .and_then(|call| call.split_once('.'))
            .and_then(|(local, method)| {
                let connection = self.workflow.connections.get(local)?;
                self.catalog.manifest(&connection.connector)?.method(method)
            })
            .is_some_and(|method| method.output == OutputShape::Records)
    }

    pub(super) fn reference_problem(
        &self,
        access: &Access,
        ctx: ExprContext<'_>,
    ) -> Option<Finding> {
        let error = |message: String| Some(Finding::Error(message));
        let variable = access.display();
        let mut segments = access.path.iter();
        match access.root.as_str() {
            "inputs" => {
                let Some(Segment::Key(name)) = segments.next() else {
                    return None;
                };
                let names = self.input_names.as_ref()?;
                (!names.contains(name)).then(|| {
                    Finding::Error(format!(
                        "unknown input `{}` (declared inputs: {})",
                        display_path("inputs", std::slice::from_ref(&Segment::Key(name.clone()))),
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })
            }
            "steps" => {
                let Some(first) = segments.next() else {
                    return error("refer to a step as `steps.<id>.output`; `steps` itself cannot be checked before the run".to_owned());
                };
                let Segment::Key(id) = first else {
                    return error(format!(
                        "refer to a step by its id, as `steps.<id>.output`, not as `{variable}`"
                    ));
                };
                let Some(&j) = self.ids.get(id.as_str()) else {
                    return error(format!("unknown step `{}` in `{variable}`", excerpt(id)));
                };
                if j == ctx.step {
                    return error(format!(
                        "a step cannot refer to its own result (`{variable}`)"
                    ));
                }
                if j > ctx.step {
                    return error(format!(
                        "step `{id}` runs after this one, so `{variable}` is not known yet"
                    ));
                }
                match segments.next() {
                    // Looked into with a computed subscript: cannot be followed.
                    None if access.looked_into => return None,
                    None => {
                        return error(format!(
                            "`steps.{id}` is the step's result, not a value: its output is \
                             `steps.{id}.output` (e.g. `{{{{ steps.{id}.output | length }}}}`){}",
                            if self.streams_records(j) {
                                format!(
                                    ", and a `for_each` goes through its records with `{{{{ steps.{id}.records }}}}`"
                                )
                            } else {
                                String::new()
                            }
                        ));
                    }
                    Some(Segment::Key(output)) if output == "output" => {}
                    Some(Segment::Key(records)) if records == "records" => {
                        return error(format!(
                            "`steps.{id}.records` is a record stream; it can only be the whole `for_each` of one later step"
                        ));
                    }
                    Some(other) => {
                        return error(format!(
                            "steps have no `{}`; use `steps.{id}.output`",
                            excerpt(other.to_string().trim_start_matches('.'))
                        ));
                    }
                }
                if let Some(k) = self.consumers[j]
                    && ctx.step <= k
                {
                    return error(format!(
                        "the output of `{id}` is known only after step `{}`, which consumes its records, has run",
                        self.workflow.steps[k].id
                    ));
                }
                let output = self.outputs.get(j)?.as_ref()?;
                shape::check(output, id, &access.path[2..])
            }
            "loop" if ctx.in_loop => None,
            "batch" if ctx.batch => None,
            name if ctx.item == Some(name) => None,
            name if crate::expr::environment().globals().any(|(g, _)| g == name) => None,
            name => {
                let mut available = vec!["inputs", "steps"];
                if let Some(item) = ctx.item {
                    available.push(item);
                }
                if ctx.batch {
                    available.push("batch");
                }
                if ctx.in_loop {
                    available.push("loop");
                }
                error(format!(
                    "unknown variable `{}` (available here: {})",
                    excerpt(name),
                    available.join(", ")
                ))
            }
        }
    }
}
