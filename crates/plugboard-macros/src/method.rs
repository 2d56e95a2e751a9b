//! `#[method]`: a function of a context and a typed input, expanded into a `Method` impl.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemFn, Lit, LitStr, Meta, Path, PathArguments,
    ReturnType, Type,
};

/// What the attribute's arguments say.
#[derive(Default)]
pub(crate) struct Options {
    id: Option<LitStr>,
    name: Option<LitStr>,
    category: Option<Expr>,
    idempotent: bool,
    poll_trigger: bool,
    /// `poll(cursor = "..", next = "..")`: the input and output fields of the cursor.
    poll_cursor: Option<(LitStr, LitStr)>,
    find_effect: Option<Path>,
    /// `cost(per_page = N, requests = N, polls, instead = ["..", ..])`.
    cost: Option<CostOptions>,
}

/// What `cost(...)` says; see `plugboard_core::Cost`.
#[derive(Default)]
struct CostOptions {
    per_page: Option<Expr>,
    requests: Option<Expr>,
    polls: bool,
    instead: Vec<LitStr>,
}

impl CostOptions {
    fn parse(&mut self, inner: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        match argument(&inner).as_str() {
            "per_page" => self.per_page = Some(inner.value()?.parse()?),
            "requests" => self.requests = Some(inner.value()?.parse()?),
            "polls" => self.polls = true,
            "instead" => {
                let list: syn::ExprArray = inner.value()?.parse()?;
                for element in list.elems {
                    match element {
                        Expr::Lit(syn::ExprLit {
                            lit: Lit::Str(id), ..
                        }) => self.instead.push(id),
                        other => {
                            return Err(syn::Error::new(
                                other.span(),
                                "`instead` lists method ids as strings",
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(inner.error(
                    "unknown `cost` argument; expected `per_page = N`, `requests = N`, `polls` \
                     or `instead = [\"<method id>\", ..]`",
                ));
            }
        }
        Ok(())
    }

    fn tokens(&self) -> TokenStream2 {
        let option = |value: &Option<Expr>| match value {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        let per_page = option(&self.per_page);
        let requests = option(&self.requests);
        let polls = self.polls;
        let instead = &self.instead;
        quote! {
            const COST: ::plugboard_core::CostInfo = ::plugboard_core::CostInfo {
                records_per_page: #per_page,
                requests: #requests,
                polls: #polls,
                instead: &[#(#instead),*],
            };
        }
    }
}

impl Options {
    pub(crate) fn parse(&mut self, meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        match argument(&meta).as_str() {
            "id" => self.id = Some(meta.value()?.parse()?),
            "name" => self.name = Some(meta.value()?.parse()?),
            "category" => self.category = Some(meta.value()?.parse()?),
            "idempotent" => self.idempotent = true,
            "poll_trigger" => self.poll_trigger = true,
            "poll" => {
                let mut cursor = None;
                let mut next = None;
                meta.parse_nested_meta(|inner| {
                    match argument(&inner).as_str() {
                        "cursor" => cursor = Some(inner.value()?.parse::<LitStr>()?),
                        "next" => next = Some(inner.value()?.parse::<LitStr>()?),
                        _ => {
                            return Err(inner.error(
                                "unknown `poll` argument; expected `cursor = \"..\"` and `next = \"..\"`",
                            ));
                        }
                    }
                    Ok(())
                })?;
                match (cursor, next) {
                    (Some(cursor), Some(next)) => {
                        self.poll_trigger = true;
                        self.poll_cursor = Some((cursor, next));
                    }
                    _ => {
                        return Err(meta.error(
                            "`poll` needs both fields: `poll(cursor = \"<input field>\", next = \"<output field>\")`",
                        ));
                    }
                }
            }
            "find_effect" => self.find_effect = Some(meta.value()?.parse()?),
            "cost" => {
                let cost = self.cost.get_or_insert_with(CostOptions::default);
                meta.parse_nested_meta(|inner| cost.parse(inner))?;
            }
            _ => {
                return Err(meta.error(
                    "unknown `#[method]` argument; expected `id = \"..\"`, `name = \"..\"`, \
                     `category = ..`, `idempotent`, `poll(cursor = \"..\", next = \"..\")`, `poll_trigger`, \
                     `find_effect = path` or `cost(..)`",
                ));
            }
        }
        Ok(())
    }
}

/// The name of an attribute argument (`id` in `id = ".."`), empty for a path that is not one word.
fn argument(meta: &syn::meta::ParseNestedMeta<'_>) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn required(value: Option<LitStr>, what: &str) -> syn::Result<LitStr> {
    value.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            format!("`#[method]` needs `{what} = \"...\"`"),
        )
    })
}

/// The function as written, and beside it its `Method`: a braced struct of the same name.
pub(crate) fn expand(options: Options, function: ItemFn) -> syn::Result<TokenStream2> {
    let id = required(options.id, "id")?;
    let name = required(options.name, "name")?;
    let category = match options.category {
        Some(category) => quote!(::core::option::Option::Some(#category)),
        // Grouped by the id's prefix, under the name the connector's `MethodSet` gives it.
        None if id
            .value()
            .split_once('.')
            .is_some_and(|(prefix, _)| !prefix.is_empty()) =>
        {
            quote!(::core::option::Option::None)
        }
        None => {
            return Err(syn::Error::new(
                id.span(),
                "an id is `<category>.<verb>` (e.g. `contact_lists.get`), or give `category`",
            ));
        }
    };
    let description = description(&function.attrs).ok_or_else(|| {
        syn::Error::new(
            function.sig.ident.span(),
            "a method needs a doc comment: its first paragraph is the description users see",
        )
    })?;
    let description = LitStr::new(&description, function.sig.ident.span());

    let sig = &function.sig;
    if sig.inputs.len() != 2 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "a method takes two arguments: `cx: &mut Context<'_, Record>` and its input",
        ));
    }
    let context = argument_type(sig.inputs.first())?;
    let input = argument_type(sig.inputs.last())?;
    let record = record_type(context)?;
    let output = output_type(&sig.output)?;

    let ident = &sig.ident;
    let vis = &function.vis;
    let idempotent = options.idempotent;
    let kind = if options.poll_trigger {
        quote!(::plugboard_core::MethodKind::PollTrigger)
    } else {
        quote!(::plugboard_core::MethodKind::Action)
    };
    let poll_cursor = options.poll_cursor.map(|(cursor, next)| {
        quote! {
            const POLL_CURSOR: ::core::option::Option<::plugboard_core::PollCursorInfo> =
                ::core::option::Option::Some(::plugboard_core::PollCursorInfo {
                    input: #cursor,
                    output: #next,
                });
        }
    });
    let cost = options.cost.as_ref().map(CostOptions::tokens);
    let find_effect = options.find_effect.map(|path| {
        quote! {
            const FINDS_EFFECT: bool = true;

            fn find_effect(
                &self,
                cx: &mut ::plugboard_core::Context<'_, #record>,
                input: &#input,
            ) -> ::core::result::Result<
                ::core::option::Option<#output>,
                ::plugboard_core::ConnectorError,
            > {
                #path(cx, input)
            }
        }
    });

    // The function stays as it is (callable, testable, documented); its `Method` is a braced
    // struct of the same name, which lives in the type namespace only, so it neither clashes
    // with the function nor turns a local variable of that name into a pattern.
    Ok(quote! {
        #function

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ident {}

        impl ::plugboard_core::Method for #ident {
            type Input = #input;
            type Output = #output;
            type Record = #record;
            const INFO: ::plugboard_core::MethodInfo = ::plugboard_core::MethodInfo {
                id: #id,
                name: #name,
                category: #category,
                description: #description,
                kind: #kind,
                idempotent: #idempotent,
            };

            fn call(
                &self,
                cx: &mut ::plugboard_core::Context<'_, #record>,
                input: #input,
            ) -> ::core::result::Result<#output, ::plugboard_core::ConnectorError> {
                #ident(cx, input)
            }

            #find_effect

            #poll_cursor

            #cost
        }
    })
}

/// The first paragraph of the doc comment, its lines joined by single spaces.
fn description(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        let Meta::NameValue(pair) = &attr.meta else {
            continue;
        };
        if !pair.path.is_ident("doc") {
            continue;
        }
        let Expr::Lit(lit) = &pair.value else {
            continue;
        };
        let Lit::Str(text) = &lit.lit else {
            continue;
        };
        let text = text.value();
        // An empty `///` line is `#[doc = ""]`, which has no lines but ends a paragraph.
        if text.trim().is_empty() {
            lines.push(String::new());
        }
        for line in text.lines() {
            lines.push(line.trim().to_owned());
        }
    }
    let paragraph: Vec<String> = lines
        .into_iter()
        .skip_while(String::is_empty)
        .take_while(|line| !line.is_empty())
        .collect();
    (!paragraph.is_empty()).then(|| paragraph.join(" "))
}

fn argument_type(argument: Option<&FnArg>) -> syn::Result<&Type> {
    match argument {
        Some(FnArg::Typed(typed)) => Ok(&typed.ty),
        Some(other) => Err(syn::Error::new(
            other.span(),
            "a method is a free function, not one taking `self`",
        )),
        None => Err(syn::Error::new(Span::call_site(), "missing argument")),
    }
}

/// `R` of `&mut Context<'_, R>`, or `NoRecords` for `&mut Context<'_>`.
fn record_type(context: &Type) -> syn::Result<TokenStream2> {
    let wrong = || {
        syn::Error::new(
            context.span(),
            "the first argument must be `&mut Context<'_>` (one value) or `&mut Context<'_, Record>` \
             (a method that streams records)",
        )
    };
    let Type::Reference(reference) = context else {
        return Err(wrong());
    };
    if reference.mutability.is_none() {
        return Err(wrong());
    }
    let Type::Path(path) = &*reference.elem else {
        return Err(wrong());
    };
    let last = path.path.segments.last().ok_or_else(wrong)?;
    if last.ident != "Context" {
        return Err(wrong());
    }
    let record = match &last.arguments {
        PathArguments::AngleBracketed(arguments) => {
            arguments.args.iter().find_map(|argument| match argument {
                GenericArgument::Type(ty) => Some(ty.to_token_stream()),
                _ => None,
            })
        }
        PathArguments::None => None,
        PathArguments::Parenthesized(_) => return Err(wrong()),
    };
    Ok(record.unwrap_or_else(|| quote!(::plugboard_core::NoRecords)))
}

/// `T` of `-> Result<T, ConnectorError>`.
fn output_type(output: &ReturnType) -> syn::Result<&Type> {
    let wrong =
        |span: Span| syn::Error::new(span, "a method returns `Result<Output, ConnectorError>`");
    let ReturnType::Type(_, ty) = output else {
        return Err(wrong(Span::call_site()));
    };
    let Type::Path(path) = &**ty else {
        return Err(wrong(ty.span()));
    };
    let last = path.path.segments.last().ok_or_else(|| wrong(ty.span()))?;
    if last.ident != "Result" {
        return Err(wrong(ty.span()));
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return Err(wrong(ty.span()));
    };
    match arguments.args.first() {
        Some(GenericArgument::Type(output)) => Ok(output),
        _ => Err(wrong(ty.span())),
    }
}
