//! Derive macros for almacen: `#[derive(Model)]`, `#[derive(DbEnum)]`, `#[derive(FromRow)]`.
//!
//! See the `almacen` crate documentation for the attributes; these macros are re-exported
//! there and generate code that refers to `::almacen`.

use proc_macro::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitInt, LitStr, Token, parse_macro_input};

mod model;

/// Derive `almacen::Model` for a struct with named fields. For `struct Product` it generates:
///
/// - `impl almacen::Model for Product` (table metadata in `Product::TABLE`, row decoding,
///   value encoding) and, unless `#[model(keyless)]`, `impl almacen::Keyed for Product`;
/// - a typed column constant per field (`Product::PRICE`);
/// - `NewProduct`, the insert input (no `auto` key, no managed columns; server-defaulted
///   fields as `Option`s; `Default` unless `#[model(no_default)]`);
/// - `select`, `insert`, `insert_many`, `update_where`, `delete_where`, and with a key
///   `get`, `get_for_update`, `update`, `delete` (this row), `delete_by_key`, `hard_delete`,
///   `restore`, `upsert`, `upsert_on`, `patch`;
/// - with `#[model(dto)]`: `ProductPatch` and `ProductOut`.
///
/// The attributes, and what each item does, are documented on the `almacen` crate page
/// ("Model attributes" and "What `#[derive(Model)]` generates"). A model that cannot work
/// (a `decimal` on a float, `max_len` on an integer, no primary key, a foreign key of
/// another type than the key it references) is a compile error naming the field.
#[proc_macro_derive(Model, attributes(model))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    model::expand(input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Derive `almacen::SqlType` for a fieldless enum stored as text (snake_case variant names
/// unless `#[db_enum(rename = "...")]` says otherwise), checked by a CHECK constraint.
#[proc_macro_derive(DbEnum, attributes(db_enum))]
pub fn derive_db_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand_db_enum(input).unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Derive `almacen::FromRow` for a struct whose fields are read by column name from a
/// result row (for selecting into a struct other than a model).
#[proc_macro_derive(FromRow, attributes(from_row))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand_from_row(input).unwrap_or_else(|e| e.to_compile_error()).into()
}

pub(crate) fn snake_case(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn expand_db_enum(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "DbEnum can only be derived for enums"));
    };
    let mut idents = Vec::new();
    let mut texts = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new(v.span(), format!("DbEnum variant `{}` must not have fields", v.ident)));
        }
        let mut text = snake_case(&v.ident.to_string());
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("db_enum")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    text = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error(format!("unknown db_enum attribute on variant `{}` (expected rename)", v.ident)))
                }
            })?;
        }
        idents.push(&v.ident);
        texts.push(text);
    }
    Ok(quote! {
        impl ::almacen::DbEnumText for #name {
            const VARIANTS: &'static [&'static str] = &[#(#texts),*];
            fn as_text(&self) -> &'static str {
                match self { #(#name::#idents => #texts,)* }
            }
            fn from_text(text: &str) -> ::core::option::Option<Self> {
                match text { #(#texts => ::core::option::Option::Some(#name::#idents),)* _ => ::core::option::Option::None }
            }
        }
        impl ::almacen::SqlType for #name {
            const COLUMN_TYPE: ::almacen::ColumnType = ::almacen::ColumnType::Enum { variants: <#name as ::almacen::DbEnumText>::VARIANTS };
            type Inner = #name;
            fn to_value(&self) -> ::almacen::Value {
                ::almacen::Value::Text(::almacen::DbEnumText::as_text(self).to_string())
            }
            fn from_value(v: ::almacen::Value) -> ::core::result::Result<Self, ::std::string::String> {
                ::almacen::__private::enum_from_value(v)
            }
            fn decode(row: &::almacen::DbRow, idx: usize, _ty: &::almacen::ColumnType) -> ::almacen::Result<Self> {
                ::almacen::__private::decode_enum(row, idx)
            }
            const SQLITE_IN_PLACE: bool = true;
            fn decode_sqlite(v: ::almacen::__private::ValueRef<'_>, _ty: &::almacen::ColumnType) -> ::core::result::Result<Self, ::std::string::String> {
                ::almacen::__private::decode_enum_sqlite(v)
            }
        }
        /// The variant's stored text, for raw SQL parameters (`params! { "s" => Status::Draft }`).
        impl ::core::convert::From<#name> for ::almacen::Value {
            fn from(v: #name) -> Self {
                ::almacen::SqlType::to_value(&v)
            }
        }
    })
}

fn expand_from_row(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "FromRow can only be derived for structs"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(input.span(), "FromRow needs named fields"));
    };
    let mut inits = Vec::new();
    for f in &fields.named {
        let ident = f.ident.as_ref().expect("named");
        let ty = &f.ty;
        let mut column = ident.to_string();
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("from_row")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("column") {
                    column = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error(format!("unknown from_row attribute on field `{ident}` (expected column)")))
                }
            })?;
        }
        inits.push(quote_spanned! {ty.span()=>
            #ident: {
                let idx = row.index_of(#column).ok_or_else(|| ::almacen::Error::Decode {
                    column: #column.to_string(),
                    message: "no such column in the result".to_string(),
                })?;
                row.get_as::<#ty>(idx)?
            }
        });
    }
    let (ig, tg, wc) = input.generics.split_for_impl();
    Ok(quote! {
        impl #ig ::almacen::FromRow for #name #tg #wc {
            fn from_row(row: &::almacen::DbRow) -> ::almacen::Result<Self> {
                ::core::result::Result::Ok(Self { #(#inits,)* })
            }
        }
    })
}

/// Parse `(a, b)` integer pairs such as `decimal(12, 2)`.
pub(crate) fn parse_int_pair(input: syn::parse::ParseStream) -> syn::Result<(u32, u32)> {
    let content;
    syn::parenthesized!(content in input);
    let a: LitInt = content.parse()?;
    content.parse::<Token![,]>()?;
    let b: LitInt = content.parse()?;
    Ok((a.base10_parse()?, b.base10_parse()?))
}

/// Parse `("a", "b")` string lists such as `index("a", "b")`.
pub(crate) fn parse_str_list(input: syn::parse::ParseStream) -> syn::Result<Vec<LitStr>> {
    let content;
    syn::parenthesized!(content in input);
    let list = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
    Ok(list.into_iter().collect())
}

pub(crate) fn upper_ident(name: &str) -> proc_macro2::Ident {
    format_ident!("{}", name.to_uppercase())
}

/// The known name nearest to `given` (at most two edits away), for "did you mean" hints.
pub(crate) fn nearest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().copied().map(|k| (strsim::levenshtein(given, k), k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}
