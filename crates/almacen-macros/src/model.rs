//! `#[derive(Model)]`.

use crate::{parse_int_pair, parse_str_list, upper_ident};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Lit, LitStr, Type};

#[derive(Default)]
struct FieldAttrs {
    primary_key: bool,
    auto: bool,
    column: Option<String>,
    max_len: Option<u32>,
    decimal: Option<(u32, u32)>,
    sql_type: Option<String>,
    unique: bool,
    index: bool,
    default: Option<Expr>,
    server_default: Option<TokenStream>,
    references: Option<Reference>,
    on_delete: Option<String>,
    /// `created_at`, `updated_at`, `version` or `soft_delete`.
    managed: Option<&'static str>,
    /// Left out of the `dto` output view.
    hidden: bool,
    /// The name in the `dto` structs' JSON.
    rename: Option<String>,
}

/// What a foreign key names: `"table.column"`, or a model's column constant (`User::ID`),
/// whose type is then checked against the field's.
enum Reference {
    Named(String, String),
    Typed(syn::Path),
}

struct Field {
    ident: syn::Ident,
    ty: Type,
    attrs: FieldAttrs,
    column: String,
}

fn is_decimal(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else { return false };
    if last.ident == "Decimal" {
        return true;
    }
    if last.ident == "Option"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        return is_decimal(inner);
    }
    false
}

/// The attributes a model struct may carry.
const STRUCT_ATTRIBUTES: &[&str] = &["table", "composite", "keyless", "no_default", "dto", "index", "unique"];

/// The attributes a model's field may carry.
const FIELD_ATTRIBUTES: &[&str] = &[
    "primary_key",
    "auto",
    "column",
    "max_len",
    "decimal",
    "sql_type",
    "unique",
    "index",
    "default",
    "server_default",
    "references",
    "on_delete",
    "created_at",
    "updated_at",
    "version",
    "soft_delete",
    "hidden",
    "rename",
];

/// Parse a field's attributes. Mistakes go to `errors` and the field is kept with what
/// could be read, so the generated items still exist and the mistake is the only error.
fn parse_field(f: &syn::Field, errors: &mut Vec<syn::Error>) -> Field {
    let ident = f.ident.clone().expect("named field");
    let mut a = FieldAttrs::default();
    for attr in f.attrs.iter().filter(|x| x.path().is_ident("model")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            if let Err(e) = parse_field_attr(&ident, &key, &meta, &mut a) {
                errors.push(e);
                skip_attr_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    if let Err(e) = check_field(&ident, f, &a) {
        errors.push(e);
    }
    let column = a.column.clone().unwrap_or_else(|| ident.to_string());
    Field { ident, ty: f.ty.clone(), attrs: a, column }
}

/// Step over what follows an attribute that could not be read (`= value` or `(..)`), so
/// the next attribute is still read.
fn skip_attr_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    let input = meta.input;
    if input.peek(syn::Token![=]) {
        input.parse::<syn::Token![=]>()?;
        while !input.is_empty() && !input.peek(syn::Token![,]) {
            input.parse::<proc_macro2::TokenTree>()?;
        }
    } else if input.peek(syn::token::Paren) {
        input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn parse_field_attr(ident: &syn::Ident, key: &str, meta: &syn::meta::ParseNestedMeta<'_>, a: &mut FieldAttrs) -> syn::Result<()> {
    {
        {
            match key {
                role @ ("created_at" | "updated_at" | "version" | "soft_delete") => {
                    let role = match role {
                        "created_at" => "created_at",
                        "updated_at" => "updated_at",
                        "version" => "version",
                        _ => "soft_delete",
                    };
                    if let Some(other) = a.managed {
                        return Err(meta.error(format!("field `{ident}`: {other} and {role} cannot both mark one field")));
                    }
                    a.managed = Some(role);
                }
                "hidden" => a.hidden = true,
                "rename" => a.rename = Some(meta.value()?.parse::<LitStr>()?.value()),
                "primary_key" => a.primary_key = true,
                "auto" => a.auto = true,
                "unique" => a.unique = true,
                "index" => a.index = true,
                "column" => a.column = Some(meta.value()?.parse::<LitStr>()?.value()),
                "max_len" => a.max_len = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?),
                "decimal" => a.decimal = Some(parse_int_pair(meta.input)?),
                "sql_type" => a.sql_type = Some(meta.value()?.parse::<LitStr>()?.value()),
                "default" => a.default = Some(meta.value()?.parse::<Expr>()?),
                "server_default" => {
                    let e = meta.value()?.parse::<Expr>()?;
                    a.server_default = Some(match e {
                        Expr::Path(p) if p.path.is_ident("now") => quote!(::almacen::ServerDefault::Now),
                        Expr::Lit(l) => match &l.lit {
                            Lit::Str(s) => {
                                let v = s.value();
                                quote!(::almacen::ServerDefault::Sql(#v))
                            }
                            Lit::Int(i) => {
                                let v = i.base10_digits().to_string();
                                quote!(::almacen::ServerDefault::Sql(#v))
                            }
                            Lit::Bool(b) => {
                                let v = if b.value { "TRUE" } else { "FALSE" };
                                quote!(::almacen::ServerDefault::Sql(#v))
                            }
                            _ => {
                                return Err(meta.error(format!(
                                    "field `{ident}`: server_default must be `now`, a string of SQL, an integer or a bool"
                                )));
                            }
                        },
                        _ => {
                            return Err(
                                meta.error(format!("field `{ident}`: server_default must be `now`, a string of SQL, an integer or a bool"))
                            );
                        }
                    });
                }
                "references" => {
                    let wrong = |span| {
                        syn::Error::new(
                            span,
                            format!("field `{ident}`: references must be a model's column constant (`User::ID`) or \"table.column\""),
                        )
                    };
                    a.references = Some(match meta.value()?.parse::<Expr>()? {
                        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                            let v = s.value();
                            let (t, c) = v.split_once('.').ok_or_else(|| wrong(s.span()))?;
                            Reference::Named(t.to_string(), c.to_string())
                        }
                        Expr::Path(p) if p.path.segments.len() >= 2 => Reference::Typed(p.path),
                        other => return Err(wrong(other.span())),
                    });
                }
                "on_delete" => {
                    let s = meta.value()?.parse::<LitStr>()?;
                    let v = s.value();
                    if !["cascade", "set_null", "restrict", "no_action"].contains(&v.as_str()) {
                        return Err(syn::Error::new(
                            s.span(),
                            format!("field `{ident}`: on_delete must be \"cascade\", \"set_null\", \"restrict\" or \"no_action\""),
                        ));
                    }
                    a.on_delete = Some(v);
                }
                _ => {
                    let given = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_else(|| "?".into());
                    let hint = crate::nearest(&given, FIELD_ATTRIBUTES).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                    return Err(meta.error(format!(
                        "unknown model attribute `{given}` on field `{ident}`: {hint}(expected {})",
                        FIELD_ATTRIBUTES.join(", ")
                    )));
                }
            }
            Ok(())
        }
    }
}

/// Attribute combinations and types that cannot work for this field.
fn check_field(ident: &syn::Ident, f: &syn::Field, a: &FieldAttrs) -> syn::Result<()> {
    if a.decimal.is_none() && is_decimal(&f.ty) {
        return Err(syn::Error::new(
            f.ty.span(),
            format!("field `{ident}`: Decimal columns need their precision and scale, e.g. #[model(decimal(12, 2))]"),
        ));
    }
    if let Some((p, s)) = a.decimal {
        if s > p {
            return Err(syn::Error::new(f.ty.span(), format!("field `{ident}`: decimal scale {s} exceeds precision {p}")));
        }
        if !(1..=28).contains(&p) {
            return Err(syn::Error::new(
                f.ty.span(),
                format!(
                    "field `{ident}`: decimal precision {p} is outside 1 to 28, the digits rust_decimal holds exactly on every dialect"
                ),
            ));
        }
    }
    if a.on_delete.is_some() && a.references.is_none() {
        return Err(syn::Error::new(f.span(), format!("field `{ident}`: on_delete needs references = \"table.column\"")));
    }
    if let Some(role) = a.managed {
        check_managed(ident, &f.ty, role, a)?;
    }
    if a.auto && a.default.is_some() {
        return Err(syn::Error::new(f.span(), format!("field `{ident}`: an auto column cannot have a client default")));
    }
    Ok(())
}

/// The last path segment of a type and its first generic argument, e.g. `Option<DateTime<Utc>>`
/// gives ("Option", Some(DateTime<Utc>)).
fn type_head(ty: &Type) -> Option<(String, Option<&Type>)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let arg = match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    };
    Some((last.ident.to_string(), arg))
}

/// A managed field must have the type its role needs and no attribute that contradicts it.
fn check_managed(ident: &syn::Ident, ty: &Type, role: &str, a: &FieldAttrs) -> syn::Result<()> {
    let head = type_head(ty);
    let head = head.as_ref().map(|(h, arg)| (h.as_str(), arg.and_then(type_head).map(|(inner, _)| inner)));
    let (fits, wanted) = match role {
        "created_at" | "updated_at" => (matches!(head, Some(("DateTime", _))), "DateTime<Utc>"),
        "version" => (matches!(head, Some(("i32" | "i64", _))), "i32 or i64"),
        _ => (matches!(head.as_ref(), Some(("Option", Some(inner))) if inner == "DateTime"), "Option<DateTime<Utc>>"),
    };
    if !fits {
        return Err(syn::Error::new(ty.span(), format!("field `{ident}`: a {role} field must be {wanted}")));
    }
    if a.primary_key || a.auto || a.default.is_some() || a.server_default.is_some() {
        return Err(syn::Error::new(
            ident.span(),
            format!("field `{ident}`: a {role} field is filled in by almacen; it cannot also be a key or have a default"),
        ));
    }
    Ok(())
}

fn column_type(f: &Field) -> syn::Result<TokenStream> {
    let ty = &f.ty;
    let ident = &f.ident;
    if let Some((p, s)) = f.attrs.decimal {
        // (Checked in `parse_field`.)
        return Ok(quote!(::almacen::ColumnType::Decimal { precision: #p, scale: #s }));
    }
    if let Some(n) = f.attrs.max_len {
        return Ok(quote!(::almacen::ColumnType::Text { max_len: ::core::option::Option::Some(#n) }));
    }
    if let Some(t) = &f.attrs.sql_type {
        return Ok(match t.as_str() {
            "text" => quote!(::almacen::ColumnType::Text { max_len: ::core::option::Option::None }),
            "smallint" => quote!(::almacen::ColumnType::SmallInt),
            "integer" => quote!(::almacen::ColumnType::Integer),
            "bigint" => quote!(::almacen::ColumnType::BigInt),
            "float" => quote!(::almacen::ColumnType::Float),
            "double" => quote!(::almacen::ColumnType::Double),
            "json" => quote!(::almacen::ColumnType::Json),
            "bytes" => quote!(::almacen::ColumnType::Bytes),
            other => {
                return Err(syn::Error::new(
                    f.ty.span(),
                    format!(
                        "field `{ident}`: unknown sql_type \"{other}\" (expected text, smallint, integer, bigint, float, double, json or bytes)"
                    ),
                ));
            }
        });
    }
    Ok(quote_spanned!(ty.span()=> <#ty as ::almacen::SqlType>::COLUMN_TYPE))
}

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let vis = &input.vis;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "Model cannot be derived for generic structs"));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(Span::call_site(), "Model can only be derived for structs"));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(Span::call_site(), "Model needs a struct with named fields"));
    };

    // Every mistake is reported at once, and the items are generated all the same, so the
    // mistakes are the only errors (no "cannot find type `NewUser`" after them).
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut table = crate::snake_case(&name.to_string());
    let mut composite = false;
    let mut keyless = false;
    let mut no_default = false;
    let mut dto = false;
    let mut indexes: Vec<(Vec<LitStr>, bool)> = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("model")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            match key.as_str() {
                "table" => table = meta.value()?.parse::<LitStr>()?.value(),
                "composite" => composite = true,
                "keyless" => keyless = true,
                "no_default" => no_default = true,
                "dto" => dto = true,
                "index" => indexes.push((parse_str_list(meta.input)?, false)),
                "unique" => indexes.push((parse_str_list(meta.input)?, true)),
                _ => {
                    let hint = crate::nearest(&key, STRUCT_ATTRIBUTES).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                    errors.push(meta.error(format!(
                        "unknown model attribute `{key}` on struct `{name}`: {hint}(expected table, composite, keyless, no_default, dto, index(...), unique(...))"
                    )));
                    skip_attr_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }

    let fields: Vec<Field> = named.named.iter().map(|f| parse_field(f, &mut errors)).collect();
    let pk: Vec<&Field> = fields.iter().filter(|f| f.attrs.primary_key).collect();
    if pk.len() > 1 && !composite {
        let names: Vec<String> = pk.iter().map(|f| format!("`{}`", f.ident)).collect();
        errors.push(syn::Error::new(
            pk[1].ident.span(),
            format!(
                "struct `{name}` has several primary key fields ({}): add #[model(composite)] to the struct for a composite key",
                names.join(", ")
            ),
        ));
    }
    if pk.is_empty() && !keyless {
        errors.push(syn::Error::new(
            name.span(),
            format!(
                "struct `{name}` has no primary key: mark its key field #[model(primary_key)], or add #[model(keyless)] to the \
                 struct for a table without one (a keyless model has no get, update or delete by key)"
            ),
        ));
    }
    if keyless && let Some(f) = pk.first() {
        errors.push(syn::Error::new(
            f.ident.span(),
            format!("struct `{name}` is #[model(keyless)] but field `{}` is a primary key: remove one of the two", f.ident),
        ));
    }
    for role in ["created_at", "updated_at", "version", "soft_delete"] {
        let marked: Vec<&Field> = fields.iter().filter(|f| f.attrs.managed == Some(role)).collect();
        if marked.len() > 1 {
            errors.push(syn::Error::new(marked[1].ident.span(), format!("struct `{name}` has more than one {role} field")));
        }
    }
    for f in &fields {
        if f.attrs.auto && !f.attrs.primary_key {
            errors.push(syn::Error::new(f.ident.span(), format!("field `{}`: auto is only for a primary key", f.ident)));
        }
    }
    let mut index_meta = Vec::new();
    for (cols, unique) in &indexes {
        if let Some(c) = cols.iter().find(|c| !fields.iter().any(|f| f.column == c.value())) {
            errors
                .push(syn::Error::new(c.span(), format!("struct `{name}`: index column \"{}\" is not a column of this model", c.value())));
            continue;
        }
        let names: Vec<String> = cols.iter().map(|c| c.value()).collect();
        let prefix = if *unique { "uq" } else { "ix" };
        let ix_name = format!("{prefix}_{table}_{}", names.join("_"));
        index_meta.push(quote!(::almacen::IndexMeta { name: #ix_name, columns: &[#(#names),*], unique: #unique }));
    }

    let new_name = format_ident!("New{}", name);
    let mut column_metas = Vec::new();
    let mut column_consts = Vec::new();
    let mut decodes = Vec::new();
    let mut sqlite_decodes = Vec::new();
    let mut field_types = Vec::new();
    let mut encodes = Vec::new();
    let mut column_value_arms = Vec::new();
    let mut type_checks = Vec::new();
    let mut new_fields = Vec::new();
    let mut new_defaults = Vec::new();
    let mut new_values = Vec::new();
    let mut new_moves = Vec::new();
    // Each inserted field bound straight from its value (`NewRecord::push_bound`).
    let mut bound_pushes = Vec::new();
    let mut touches = Vec::new();
    let mut default_fns = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let ident = &f.ident;
        let ty = &f.ty;
        let col = &f.column;
        let field_name = ident.to_string();
        let ctype = column_type(f).unwrap_or_else(|e| {
            errors.push(e);
            quote!(::almacen::ColumnType::Text { max_len: ::core::option::Option::None })
        });
        let pk = f.attrs.primary_key;
        let auto = f.attrs.auto;
        let unique = f.attrs.unique;
        let indexed = f.attrs.index;
        let server_default = match &f.attrs.server_default {
            Some(d) => quote!(::core::option::Option::Some(#d)),
            None => quote!(::core::option::Option::None),
        };
        let managed = match f.attrs.managed {
            Some("created_at") => quote!(CreatedAt),
            Some("updated_at") => quote!(UpdatedAt),
            Some("version") => quote!(Version),
            Some(_) => quote!(DeletedAt),
            None => quote!(No),
        };
        let action = match f.attrs.on_delete.as_deref() {
            Some("cascade") => quote!(Cascade),
            Some("set_null") => quote!(SetNull),
            Some("restrict") => quote!(Restrict),
            _ => quote!(NoAction),
        };
        let references = match &f.attrs.references {
            Some(Reference::Named(t, c)) => {
                quote!(::core::option::Option::Some(::almacen::ForeignKey { table: #t, column: #c, on_delete: ::almacen::OnDelete::#action }))
            }
            Some(Reference::Typed(path)) => {
                let (model_path, konst) = split_column_path(path, name);
                // The field's type must be the referenced key's (nullable or not).
                let check = format_ident!("field_{}_references", ident);
                type_checks.push(quote_spanned! {path.span()=>
                    #[allow(non_snake_case, dead_code)]
                    const fn #check() {
                        ::almacen::__private::check_reference::<<#ty as ::almacen::SqlType>::Inner, _, _>(#model_path::#konst);
                    }
                });
                if model_path.is_ident(name) {
                    // A reference to this model itself: its names are known here, and reading
                    // them from `Self::TABLE` would make the constant depend on itself.
                    match fields.iter().find(|g| upper_ident(&g.ident.to_string()) == konst) {
                        Some(target) => {
                            let c = &target.column;
                            quote!(::core::option::Option::Some(::almacen::ForeignKey { table: #table, column: #c, on_delete: ::almacen::OnDelete::#action }))
                        }
                        None => {
                            errors
                                .push(syn::Error::new(path.span(), format!("field `{ident}`: `{name}` has no column constant `{konst}`")));
                            quote!(::core::option::Option::None)
                        }
                    }
                } else {
                    quote!(::core::option::Option::Some(::almacen::ForeignKey {
                        table: <#model_path as ::almacen::Model>::TABLE.name,
                        column: #model_path::#konst.name(),
                        on_delete: ::almacen::OnDelete::#action,
                    }))
                }
            }
            None => quote!(::core::option::Option::None),
        };
        column_metas.push(quote_spanned! {ty.span()=>
            ::almacen::ColumnMeta {
                name: #col,
                field: #field_name,
                ty: #ctype,
                nullable: <#ty as ::almacen::SqlType>::NULLABLE,
                primary_key: #pk,
                auto_increment: #auto,
                unique: #unique,
                indexed: #indexed,
                server_default: #server_default,
                references: #references,
                managed: ::almacen::Managed::#managed,
            }
        });
        let const_name = upper_ident(&field_name);
        let doc = format!("The `{col}` column.");
        column_consts.push(quote! {
            #[doc = #doc]
            #vis const #const_name: ::almacen::Column<#name, #ty> = ::almacen::Column::new(#i);
        });
        decodes.push(quote_spanned! {ty.span()=>
            #ident: <#ty as ::almacen::SqlType>::decode(row, offset + #i, &<Self as ::almacen::Model>::TABLE.columns[#i].ty)?
        });
        sqlite_decodes.push(quote_spanned! {ty.span()=>
            #ident: row.decode::<#ty>(offset + #i, &<Self as ::almacen::Model>::TABLE.columns[#i].ty)?
        });
        field_types.push(ty.clone());
        encodes.push(quote!(::almacen::SqlType::to_value(&self.#ident)));
        column_value_arms.push(quote!(#i => ::almacen::SqlType::to_value(&self.#ident),));
        // A bound named after the field, so an unsupported type's error names the field.
        let check = format_ident!("field_{}_must_be_a_column_type", ident);
        type_checks.push(quote_spanned! {ty.span()=>
            #[allow(non_snake_case, dead_code)]
            fn #check<T: ::almacen::SqlType>() {}
            let _ = #check::<#ty>;
        });
        // Attributes that only fit some types: the trait's message says which.
        let fitting = [
            (f.attrs.decimal.is_some(), "decimal", quote!(::almacen::__private::DecimalField)),
            (f.attrs.max_len.is_some(), "max_len", quote!(::almacen::__private::TextField)),
            (auto, "auto", quote!(::almacen::__private::IntegerField)),
        ];
        for (_, attr, bound) in fitting.into_iter().filter(|(used, _, _)| *used) {
            let check = format_ident!("field_{}_{}_does_not_fit_its_type", ident, attr);
            type_checks.push(quote_spanned! {ty.span()=>
                #[allow(non_snake_case, dead_code)]
                fn #check<T: #bound>() {}
                let _ = #check::<#ty>;
            });
        }
        if auto {
            continue;
        }
        // Managed fields are not in the insert input: almacen fills them in.
        match f.attrs.managed {
            Some("created_at" | "updated_at") => {
                let now = quote!(out.push((#i, ::almacen::Value::Timestamp(now))););
                new_values.push(now.clone());
                new_moves.push(now);
                bound_pushes.push(quote!(row.push::<#name, _>(#i, now)?;));
                if f.attrs.managed == Some("updated_at") {
                    touches.push(quote!(self.#ident = now;));
                }
                continue;
            }
            Some("version") => {
                let first = quote!(out.push((#i, ::almacen::Value::Int(1))););
                new_values.push(first.clone());
                new_moves.push(first);
                bound_pushes.push(quote!(row.push_value::<#name>(#i, ::almacen::Value::Int(1))?;));
                touches.push(quote!(self.#ident += 1;));
                continue;
            }
            // Soft delete: NULL (live) on insert.
            Some(_) => continue,
            None => {}
        }
        let field_vis = &named.named[i].vis;
        if f.attrs.server_default.is_some() {
            // None lets the database fill the column in.
            let new_ty = if is_option(ty) { quote!(#ty) } else { quote!(::core::option::Option<#ty>) };
            let rename = serde_rename(f);
            new_fields.push(quote!(#rename #field_vis #ident: #new_ty));
            new_defaults.push(quote!(#ident: ::core::option::Option::None));
            new_values.push(quote! {
                if let ::core::option::Option::Some(v) = &self.#ident {
                    out.push((#i, ::almacen::SqlType::to_value(v)));
                }
            });
            new_moves.push(quote! {
                if let ::core::option::Option::Some(v) = self.#ident {
                    out.push((#i, ::almacen::SqlType::into_value(v)));
                }
            });
            bound_pushes.push(quote! {
                if let ::core::option::Option::Some(v) = self.#ident {
                    row.push::<#name, _>(#i, v)?;
                }
            });
        } else {
            let rename = serde_rename(f);
            // With `dto`: a hidden field is not taken from input (the service sets it), and a
            // field with a client default may be left out of it.
            let input = if f.attrs.hidden {
                quote!(#[serde(skip_deserializing)])
            } else if f.attrs.default.is_some() {
                let path = format!("{new_name}::__almacen_default_{ident}");
                quote!(#[serde(default = #path)])
            } else {
                quote!()
            };
            let input = if dto { input } else { quote!() };
            new_fields.push(quote!(#rename #input #field_vis #ident: #ty));
            match &f.attrs.default {
                Some(expr) => {
                    new_defaults.push(quote!(#ident: ::core::convert::Into::into(#expr)));
                    let fn_name = format_ident!("__almacen_default_{}", ident);
                    default_fns.push(quote! {
                        #[doc(hidden)]
                        #[allow(non_snake_case)]
                        fn #fn_name() -> #ty {
                            ::core::convert::Into::into(#expr)
                        }
                    });
                }
                None => new_defaults.push(quote!(#ident: ::core::default::Default::default())),
            }
            new_values.push(quote!(out.push((#i, ::almacen::SqlType::to_value(&self.#ident)));));
            new_moves.push(quote!(out.push((#i, ::almacen::SqlType::into_value(self.#ident)));));
            bound_pushes.push(quote!(row.push::<#name, _>(#i, self.#ident)?;));
        }
    }

    let null = quote!(::almacen::Value::Null(::almacen::Kind::Unknown));
    let (key_ty, key_expr, key_values, key_value) = match pk.as_slice() {
        [] => (quote!(()), quote!(()), quote!(::std::vec::Vec::new()), null.clone()),
        [one] => {
            let ty = &one.ty;
            let id = &one.ident;
            let value = quote!(::almacen::SqlType::to_value(key));
            (
                quote!(#ty),
                quote!(::core::clone::Clone::clone(&self.#id)),
                quote!(::std::vec![#value]),
                quote!(if index == 0 { #value } else { #null }),
            )
        }
        many => {
            let tys: Vec<&Type> = many.iter().map(|f| &f.ty).collect();
            let ids: Vec<&syn::Ident> = many.iter().map(|f| &f.ident).collect();
            let idx: Vec<syn::Index> = (0..many.len()).map(syn::Index::from).collect();
            let at: Vec<usize> = (0..many.len()).collect();
            (
                quote!((#(#tys,)*)),
                quote!((#(::core::clone::Clone::clone(&self.#ids),)*)),
                quote!(::std::vec![#(::almacen::SqlType::to_value(&key.#idx)),*]),
                quote!(match index { #(#at => ::almacen::SqlType::to_value(&key.#idx),)* _ => #null }),
            )
        }
    };

    let new_count = new_values.len();
    // One clock reading per row, so created_at and updated_at start equal.
    let stamps = fields.iter().any(|f| matches!(f.attrs.managed, Some("created_at" | "updated_at")));
    let stamp = if stamps { quote!(let now = ::almacen::__private::now();) } else { quote!() };
    let new_doc = format!(
        "Insert input for [`{name}`]: every field the database does not generate; fields with a server default are `Option`s (None lets the database fill them in)."
    );
    let default_impl = if no_default {
        quote!()
    } else {
        quote! {
            impl ::core::default::Default for #new_name {
                fn default() -> Self {
                    #new_name { #(#new_defaults,)* }
                }
            }
        }
    };

    let new_serde = if dto {
        quote! {
            #[derive(::almacen::__private::serde::Deserialize)]
            #[serde(crate = "::almacen::__private::serde")]
        }
    } else {
        quote!()
    };
    let dto_items = if dto { dto_structs(name, vis, &fields, &named.named)? } else { quote!() };
    let keyed_methods = if keyless { quote!() } else { keyed_methods(name, vis) };
    let keyed_impl = if keyless { quote!() } else { quote!(impl ::almacen::Keyed for #name {}) };
    let errors = errors.iter().map(syn::Error::to_compile_error);
    let model_name = name.to_string();

    Ok(quote! {
        #(#errors)*

        const _: () = {
            #(#type_checks)*
        };

        #keyed_impl

        #dto_items

        #[doc = #new_doc]
        #[derive(Debug, Clone)]
        #new_serde
        #vis struct #new_name {
            #(#new_fields,)*
        }

        #default_impl

        impl #new_name {
            #(#default_fns)*
        }

        impl ::almacen::NewRecord<#name> for #new_name {
            fn insert_values(&self) -> ::std::vec::Vec<(usize, ::almacen::Value)> {
                let mut out = ::std::vec::Vec::with_capacity(#new_count);
                #stamp
                #(#new_values)*
                out
            }
            fn push_insert_values(self, out: &mut ::std::vec::Vec<(usize, ::almacen::Value)>) {
                #stamp
                #(#new_moves)*
            }
            fn push_bound(self, row: &mut ::almacen::__private::BoundRow) -> ::almacen::Result<()> {
                #stamp
                #(#bound_pushes)*
                ::core::result::Result::Ok(())
            }
        }

        impl ::almacen::Model for #name {
            const TABLE: &'static ::almacen::TableMeta = &::almacen::TableMeta {
                name: #table,
                model: #model_name,
                columns: &[#(#column_metas),*],
                indexes: &[#(#index_meta),*],
            };
            type Key = #key_ty;
            type New = #new_name;

            fn decode(row: &::almacen::DbRow, offset: usize) -> ::almacen::Result<Self> {
                ::core::result::Result::Ok(#name { #(#decodes,)* })
            }
            fn values(&self) -> ::std::vec::Vec<::almacen::Value> {
                ::std::vec![#(#encodes),*]
            }
            #[allow(clippy::unused_unit)]
            fn key(&self) -> Self::Key {
                #key_expr
            }
            fn column_value(&self, index: usize) -> ::almacen::Value {
                match index {
                    #(#column_value_arms)*
                    _ => ::almacen::Value::Null(::almacen::Kind::Unknown),
                }
            }
            #[allow(unused_variables)]
            fn key_values(key: &Self::Key) -> ::std::vec::Vec<::almacen::Value> {
                #key_values
            }
            #[allow(unused_variables)]
            fn key_value(key: &Self::Key, index: usize) -> ::almacen::Value {
                #key_value
            }
            #[allow(unused_variables)]
            fn touch(&mut self, now: ::almacen::chrono::DateTime<::almacen::chrono::Utc>) {
                #(#touches)*
            }
            const SQLITE_IN_PLACE: bool = true #(&& <#field_types as ::almacen::SqlType>::SQLITE_IN_PLACE)*;
            fn decode_sqlite(row: &::almacen::__private::LiveRow<'_>, offset: usize) -> ::almacen::Result<Self> {
                ::core::result::Result::Ok(#name { #(#sqlite_decodes,)* })
            }
            fn statements() -> ::core::option::Option<&'static ::almacen::__private::ModelStatements> {
                static STATEMENTS: ::almacen::__private::ModelStatements = ::almacen::__private::ModelStatements::new();
                ::core::option::Option::Some(&STATEMENTS)
            }
        }

        #[allow(dead_code)]
        impl #name {
            #(#column_consts)*

            /// A typed SELECT of this model's rows.
            #vis fn select() -> ::almacen::query::Select<#name> {
                ::almacen::query::Select::new()
            }
            /// Insert a row and return it as stored.
            #vis async fn insert(db: &impl ::almacen::Executor, new: #new_name) -> ::almacen::Result<#name> {
                ::almacen::ops::insert::<#name>(db, new).await
            }
            /// Insert many rows (multi-row, chunked; all or none) and return them as stored.
            #vis async fn insert_many(db: &impl ::almacen::Executor, rows: ::std::vec::Vec<#new_name>) -> ::almacen::Result<::std::vec::Vec<#name>> {
                ::almacen::ops::insert_many::<#name>(db, rows).await
            }
            /// Insert many rows as `insert_many` does (multi-row, chunked; all or none) without
            /// reading them back; returns how many were inserted.
            #vis async fn insert_many_without_returning(db: &impl ::almacen::Executor, rows: ::std::vec::Vec<#new_name>) -> ::almacen::Result<u64> {
                ::almacen::ops::insert_many_without_returning::<#name>(db, rows).await
            }
            /// An UPDATE of every row matching `condition`.
            #vis fn update_where(condition: ::almacen::Condition) -> ::almacen::UpdateWhere<#name> {
                ::almacen::UpdateWhere::new(condition)
            }
            /// A DELETE of every row matching `condition`.
            #vis fn delete_where(condition: ::almacen::Condition) -> ::almacen::DeleteWhere<#name> {
                ::almacen::DeleteWhere::new(condition)
            }
            #keyed_methods
        }
    })
}

/// The methods that find a row by its key; a keyless model has none of them.
fn keyed_methods(name: &syn::Ident, vis: &syn::Visibility) -> TokenStream {
    quote! {
            /// The row with this primary key, if any.
            #vis async fn get(db: &impl ::almacen::Executor, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<::core::option::Option<#name>> {
                ::almacen::ops::get::<#name>(db, &key).await
            }
            /// The row with this primary key, if any, locked against other transactions'
            /// writes until this transaction ends (`SELECT … FOR UPDATE`; on SQLite the
            /// transaction's write lock covers it).
            #vis async fn get_for_update(db: &impl ::almacen::Executor, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<::core::option::Option<#name>> {
                ::almacen::ops::get_for_update::<#name>(db, &key).await
            }
            /// Write every column of this row; `Error::NotFound` when it is gone, and
            /// `Error::Conflict` when its version moved on since it was read. Managed
            /// fields (`updated_at`, `version`) are updated here as in the database.
            #vis async fn update(&mut self, db: &impl ::almacen::Executor) -> ::almacen::Result<()> {
                ::almacen::ops::update::<#name>(db, self).await
            }
            /// Delete this row (soft-deletable models: mark it deleted); true when it existed.
            #vis async fn delete(&self, db: &impl ::almacen::Executor) -> ::almacen::Result<bool> {
                ::almacen::ops::delete::<#name>(db, &::almacen::Model::key(self)).await
            }
            /// Remove the row with this key for good, even from a soft-deletable model; true
            /// when a row went.
            #vis async fn hard_delete(db: &impl ::almacen::Executor, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<bool> {
                ::almacen::ops::hard_delete::<#name>(db, &key).await
            }
            /// Bring back a soft-deleted row; true when one was deleted.
            #vis async fn restore(db: &impl ::almacen::Executor, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<bool> {
                ::almacen::ops::restore::<#name>(db, &key).await
            }
            /// Delete the row with this key; true when it existed.
            #vis async fn delete_by_key(db: &impl ::almacen::Executor, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<bool> {
                ::almacen::ops::delete::<#name>(db, &key).await
            }
            /// Insert this row or update the one with the same primary key; returns it as stored.
            #vis async fn upsert(&self, db: &impl ::almacen::Executor) -> ::almacen::Result<#name> {
                ::almacen::ops::upsert::<#name>(db, self, &[]).await
            }
            /// Insert this row or update the one whose `conflict` columns are equal.
            #vis async fn upsert_on(&self, db: &impl ::almacen::Executor, conflict: &[::almacen::query::ColumnRef]) -> ::almacen::Result<#name> {
                ::almacen::ops::upsert::<#name>(db, self, conflict).await
            }
            /// A partial update of the row with this key.
            #vis fn patch(key: <#name as ::almacen::Model>::Key) -> ::almacen::Patch<#name> {
                ::almacen::Patch::new(key)
            }
    }
}

/// `User::ID` → (`User`, `ID`), with `Self::ID` read as this model's.
fn split_column_path(path: &syn::Path, model: &syn::Ident) -> (syn::Path, syn::Ident) {
    let mut model_path = path.clone();
    let konst = model_path.segments.pop().expect("two segments or more").into_value().ident;
    model_path.segments.pop_punct();
    if model_path.is_ident("Self") {
        model_path = syn::Path::from(model.clone());
    }
    (model_path, konst)
}

/// `#[serde(rename = "…")]` for a field with `#[model(rename = "…")]`.
fn serde_rename(f: &Field) -> TokenStream {
    match &f.attrs.rename {
        Some(r) => quote!(#[serde(rename = #r)]),
        None => quote!(),
    }
}

/// `<Model>Patch` and `<Model>Out` for `#[model(dto)]`.
fn dto_structs(
    name: &syn::Ident,
    vis: &syn::Visibility,
    fields: &[Field],
    named: &syn::punctuated::Punctuated<syn::Field, syn::Token![,]>,
) -> syn::Result<TokenStream> {
    let patch_name = format_ident!("{}Patch", name);
    let out_name = format_ident!("{}Out", name);
    let patch_doc = format!(
        "A partial update of [`{name}`]: each field is absent (kept), null or a value. Deserialize it from a request body, then `into_patch(key)` or `apply(&mut model)`."
    );
    let out_doc = format!("The output view of [`{name}`]: hidden fields left out, renamed ones renamed.");
    let mut patch_fields = Vec::new();
    let mut to_patch = Vec::new();
    let mut applies = Vec::new();
    let mut out_fields = Vec::new();
    let mut out_moves = Vec::new();
    let mut checks = Vec::new();
    for (f, syn_field) in fields.iter().zip(named) {
        let ident = &f.ident;
        let ty = &f.ty;
        let fvis = &syn_field.vis;
        let rename = serde_rename(f);
        if !f.attrs.hidden {
            out_fields.push(quote!(#rename #fvis #ident: #ty));
            out_moves.push(quote!(#ident: m.#ident));
        }
        // Keys, managed columns and hidden fields are not the client's to change.
        if f.attrs.primary_key || f.attrs.auto || f.attrs.managed.is_some() || f.attrs.hidden {
            continue;
        }
        let konst = format_ident!("{}", upper_ident(&ident.to_string()));
        let column = &f.column;
        patch_fields.push(quote! {
            #rename
            #[serde(default)]
            #fvis #ident: ::almacen::Field<<#ty as ::almacen::SqlType>::Inner>
        });
        let (null_patch, null_apply) = if is_option(ty) {
            (quote!(patch = patch.set(#name::#konst, ::core::option::Option::None);), quote!(model.#ident = ::core::option::Option::None;))
        } else {
            checks.push(quote! {
                if ::core::matches!(self.#ident, ::almacen::Field::Null) {
                    return ::core::result::Result::Err(::almacen::__private::null_error(#column));
                }
            });
            (quote!(return ::core::result::Result::Err(::almacen::__private::null_error(#column));), quote!(unreachable!("checked above");))
        };
        to_patch.push(quote! {
            match self.#ident {
                ::almacen::Field::Absent => {}
                ::almacen::Field::Null => { #null_patch }
                ::almacen::Field::Value(v) => { patch = patch.set(#name::#konst, v); }
            }
        });
        applies.push(quote! {
            match self.#ident {
                ::almacen::Field::Absent => {}
                ::almacen::Field::Null => { #null_apply }
                ::almacen::Field::Value(v) => { model.#ident = ::core::convert::Into::into(v); }
            }
        });
    }
    Ok(quote! {
        #[doc = #patch_doc]
        #[derive(Debug, Clone, PartialEq, Default, ::almacen::__private::serde::Deserialize)]
        #[serde(crate = "::almacen::__private::serde")]
        #vis struct #patch_name {
            #(#patch_fields,)*
        }

        impl #patch_name {
            /// The database patch of the row with `key`; a null for a non-nullable column is
            /// an error naming it.
            #[allow(unused_mut)]
            #vis fn into_patch(self, key: <#name as ::almacen::Model>::Key) -> ::almacen::Result<::almacen::Patch<#name>> {
                let mut patch = ::almacen::Patch::new(key);
                #(#to_patch)*
                ::core::result::Result::Ok(patch)
            }

            /// Apply the given fields to `model` in memory (e.g. in a test double); on an
            /// error `model` is left as it was.
            #[allow(unused_variables, unreachable_code)]
            #vis fn apply(self, model: &mut #name) -> ::almacen::Result<()> {
                #(#checks)*
                #(#applies)*
                ::core::result::Result::Ok(())
            }
        }

        #[doc = #out_doc]
        #[derive(Debug, Clone, PartialEq, ::almacen::__private::serde::Serialize)]
        #[serde(crate = "::almacen::__private::serde")]
        #vis struct #out_name {
            #(#out_fields,)*
        }

        impl ::core::convert::From<#name> for #out_name {
            fn from(m: #name) -> Self {
                #out_name { #(#out_moves,)* }
            }
        }
    })
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}
