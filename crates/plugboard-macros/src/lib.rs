//! The attributes of connector authoring: `#[method]` (a method written as a function),
//! `#[output]` (a type that keeps every field of the API object it holds), `#[input]` (a
//! method's input: unknown fields refused, options optional) and `#[choice]` (a field's set of
//! values).
//!
//! Use them through `plugboard_core`, whose documentation shows them at work. This crate exists
//! only because an attribute must live in a proc-macro crate; everything `#[method]` writes is an
//! ordinary `plugboard_core::Method` impl, the layer underneath (`method.rs`), and
//! everything the type attributes write is derives and serde attributes (and, for outputs, one
//! field; `types.rs`).
//!
//! Why a proc-macro rather than `macro_rules!`: an attribute leaves the function as plain Rust
//! that rustfmt formats and rust-analyzer understands, where a `macro_rules!` call would wrap every
//! method body in macro input that neither touches; and it can read the types the function already
//! states (input, output, record) and its doc comment, so nothing is written twice.
#![forbid(unsafe_code)]

mod method;
mod types;

use proc_macro::TokenStream;

/// Turns a function of a context and a typed input into a connector method.
///
/// See `plugboard_core::method` for the documentation and examples.
#[proc_macro_attribute]
pub fn method(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = syn::parse_macro_input!(item as syn::ItemFn);
    let mut options = method::Options::default();
    let parser = syn::meta::parser(|meta| options.parse(meta));
    syn::parse_macro_input!(args with parser);
    match method::expand(options, function) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Makes a struct that holds an API object faithful: it keeps every field the API returned.
///
/// See `plugboard_core::output` for the documentation and examples.
#[proc_macro_attribute]
pub fn output(args: TokenStream, item: TokenStream) -> TokenStream {
    types::rewrite_struct(args, item, "output", types::faithful)
}

/// Makes a struct a method's input: strict about unknown fields, lenient about absent options.
///
/// See `plugboard_core::input` for the documentation and examples.
#[proc_macro_attribute]
pub fn input(args: TokenStream, item: TokenStream) -> TokenStream {
    types::rewrite_struct(args, item, "input", types::strict)
}

/// Makes a unit enum the set of values a field may take.
///
/// See `plugboard_core::choice` for the documentation and examples.
#[proc_macro_attribute]
pub fn choice(args: TokenStream, item: TokenStream) -> TokenStream {
    types::choice(args, item)
}
