//! `#[input]`, `#[output]` and `#[choice]`: the derives and serde attributes that make a type a
//! method's input, a faithful output, or a field's set of values.
//!
//! Each adds the derives its kind always needs (those the item does not derive itself), so an
//! author writes one attribute where five derives and a serde line used to repeat on every type.
//! The derives name `::serde` and `::schemars`: a connector depends on both, as it must to write
//! any other type of its own.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Field, Fields, ItemEnum, ItemStruct, Meta, Path, Token, Type};

/// An input is printed in errors, read from the workflow, written into the request (body or
/// query) and described by its schema.
const INPUT_DERIVES: &[&str] = &["Debug", "Serialize", "Deserialize", "JsonSchema"];
/// An output is also handed on: to the workflow, and into the next step's input.
const OUTPUT_DERIVES: &[&str] = &["Debug", "Clone", "Serialize", "Deserialize", "JsonSchema"];
/// A choice is a plain value: copied, compared, and written as its wire spelling.
const CHOICE_DERIVES: &[&str] = &[
    "Debug",
    "Clone",
    "Copy",
    "PartialEq",
    "Eq",
    "Serialize",
    "Deserialize",
    "JsonSchema",
];

/// The full path of a derive `wanted` names, so the caller needs no `use` for it.
fn derive_path(name: &str) -> TokenStream2 {
    match name {
        "Debug" => quote!(::core::fmt::Debug),
        "Clone" => quote!(::core::clone::Clone),
        "Copy" => quote!(::core::marker::Copy),
        "PartialEq" => quote!(::core::cmp::PartialEq),
        "Eq" => quote!(::core::cmp::Eq),
        "Serialize" => quote!(::serde::Serialize),
        "Deserialize" => quote!(::serde::Deserialize),
        _ => quote!(::schemars::JsonSchema),
    }
}

/// Adds the derives of `wanted` that the item's own `#[derive]`s lack. The new `#[derive]` goes
/// first, before the `#[serde]` and `#[schemars]` attributes its derives read.
fn derive_missing(attrs: &mut Vec<Attribute>, wanted: &[&str]) -> syn::Result<()> {
    let mut derived = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let paths = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)?;
        derived.extend(
            paths
                .iter()
                .filter_map(|path| path.segments.last())
                .map(|segment| segment.ident.to_string()),
        );
    }
    let missing: Vec<TokenStream2> = wanted
        .iter()
        .filter(|want| !derived.iter().any(|have| have == *want))
        .map(|want| derive_path(want))
        .collect();
    if !missing.is_empty() {
        attrs.insert(0, syn::parse_quote!(#[derive(#(#missing),*)]));
    }
    Ok(())
}

/// `#[choice]` on an enum of unit variants: the derives of a value, and snake_case on the wire
/// unless the enum says `#[serde(rename_all = "..")]` itself.
pub(crate) fn choice(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            Span::call_site(),
            "`#[choice]` takes no arguments; give another wire spelling with \
             `#[serde(rename_all = \"..\")]`",
        )
        .to_compile_error()
        .into();
    }
    let mut item = syn::parse_macro_input!(item as ItemEnum);
    let expanded = (|| {
        if let Some(variant) = item
            .variants
            .iter()
            .find(|v| !matches!(v.fields, Fields::Unit))
        {
            return Err(syn::Error::new_spanned(
                variant,
                "`#[choice]` is for enums of unit variants, each one value the field may take",
            ));
        }
        if !serde_words(&item.attrs).iter().any(|w| w == "rename_all") {
            item.attrs
                .push(syn::parse_quote!(#[serde(rename_all = "snake_case")]));
        }
        derive_missing(&mut item.attrs, CHOICE_DERIVES)
    })();
    match expanded {
        Ok(()) => item.into_token_stream().into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Parses a struct, refuses arguments, and applies `rewrite` to it.
pub(crate) fn rewrite_struct(
    args: TokenStream,
    item: TokenStream,
    name: &str,
    rewrite: fn(&mut ItemStruct) -> syn::Result<()>,
) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(Span::call_site(), format!("`#[{name}]` takes no arguments"))
            .to_compile_error()
            .into();
    }
    let mut item = syn::parse_macro_input!(item as ItemStruct);
    match rewrite(&mut item) {
        Ok(()) => item.into_token_stream().into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn named_fields<'a>(item: &'a mut ItemStruct, name: &str) -> syn::Result<&'a mut syn::FieldsNamed> {
    let span = item.ident.span();
    match &mut item.fields {
        Fields::Named(fields) => Ok(fields),
        _ => Err(syn::Error::new(
            span,
            format!("`#[{name}]` is for structs with named fields"),
        )),
    }
}

/// An `Option` field reads absent or `null` as `None`, and leaves `None` out when written.
fn optional(field: &mut Field, serde: &[String]) {
    let missing_default = !serde.iter().any(|w| w == "default");
    let missing_skip = !serde.iter().any(|w| w == "skip_serializing_if");
    match (missing_default, missing_skip) {
        (true, true) => field.attrs.push(syn::parse_quote!(
            #[serde(default, skip_serializing_if = "Option::is_none")]
        )),
        (true, false) => field.attrs.push(syn::parse_quote!(#[serde(default)])),
        (false, true) => field.attrs.push(syn::parse_quote!(
            #[serde(skip_serializing_if = "Option::is_none")]
        )),
        (false, false) => {}
    }
}

pub(crate) fn faithful(item: &mut ItemStruct) -> syn::Result<()> {
    derive_missing(&mut item.attrs, OUTPUT_DERIVES)?;
    let fields = named_fields(item, "output")?;
    let mut has_unnamed = false;
    for field in &mut fields.named {
        has_unnamed |= field.ident.as_ref().is_some_and(|i| i == "unnamed");
        let serde = serde_words(&field.attrs);
        if serde.iter().any(|w| w == "flatten") {
            continue;
        }
        match last_segment(&field.ty).as_deref() {
            Some("Option") => optional(field, &serde),
            // A list the API left out reads as empty.
            Some("Vec") if !serde.iter().any(|w| w == "default") => {
                field.attrs.push(syn::parse_quote!(#[serde(default)]));
            }
            _ => {}
        }
    }
    if !has_unnamed {
        let unnamed: Field = syn::parse::Parser::parse2(
            Field::parse_named,
            quote! {
                /// Every field the API returned that this type does not name, as the API sent it.
                #[serde(flatten)]
                pub unnamed: ::plugboard_core::Unnamed
            },
        )?;
        fields.named.push(unnamed);
    }
    Ok(())
}

pub(crate) fn strict(item: &mut ItemStruct) -> syn::Result<()> {
    if !serde_words(&item.attrs)
        .iter()
        .any(|w| w == "deny_unknown_fields")
    {
        item.attrs
            .push(syn::parse_quote!(#[serde(deny_unknown_fields)]));
    }
    derive_missing(&mut item.attrs, INPUT_DERIVES)?;
    let fields = named_fields(item, "input")?;
    for field in &mut fields.named {
        // serde accepts `flatten` beside `deny_unknown_fields` but then refuses every input:
        // say so where the author wrote it, not at run time.
        if serde_words(&field.attrs).iter().any(|w| w == "flatten") {
            return Err(syn::Error::new_spanned(
                &field.ty,
                "`#[input]` types refuse unknown fields, which serde cannot do with \
                 `#[serde(flatten)]`: nest the inner type as a field instead",
            ));
        }
        if last_segment(&field.ty).as_deref() == Some("Option") {
            let serde = serde_words(&field.attrs);
            optional(field, &serde);
        }
    }
    Ok(())
}

/// The identifiers inside a field's `#[serde(...)]` attributes (`default`, `rename`, ...).
fn serde_words(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .filter_map(|a| match &a.meta {
            Meta::List(list) => Some(list.tokens.clone()),
            _ => None,
        })
        .flat_map(|tokens| {
            tokens.into_iter().filter_map(|token| match token {
                proc_macro2::TokenTree::Ident(ident) => Some(ident.to_string()),
                _ => None,
            })
        })
        .collect()
}

/// The last segment of a type's path (`Option` for `Option<String>`).
fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
