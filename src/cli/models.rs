//! `clawgate models list`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, SourceArgs, print_json};
use crate::config::suggest;
use crate::config::{ApiKey, Secrets};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List models, aliases and whether each provider's key is set.
    List {
        #[command(flatten)]
        source: SourceArgs,
        /// Only this provider's models (a provider id such as `moonshot`).
        #[arg(long, value_name = "ID")]
        provider: Option<String>,
        /// Print the models as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn key_status(key: &ApiKey) -> String {
    match key {
        ApiKey::Set(_) => "set".to_string(),
        ApiKey::Missing(unset) => format!("missing ({})", unset.var),
        ApiKey::None => "none".to_string(),
    }
}

pub fn list_models(
    source_args: &SourceArgs,
    provider: Option<&str>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (_, loaded) = source_args.load(Secrets::Offline)?;
    let config = &loaded.config;
    if let Some(id) = provider.filter(|id| !config.providers.contains_key(*id)) {
        let ids = config.providers.keys().map(String::as_str);
        let hint = suggest::did_you_mean(&suggest::nearest(id, ids.clone()))
            .map(|hint| format!("; {hint}"))
            .unwrap_or_default();
        let all = ids.collect::<Vec<_>>().join(", ");
        return Err(CliError::Other(format!(
            "no provider {id:?} in the config{hint} (configured: {all})"
        )));
    }
    let rows: Vec<Value> = config
        .models()
        .filter(|(_, p, _)| provider.is_none_or(|id| p.id == id))
        .map(|(model_ref, p, m)| {
            json!({
                "ref": model_ref.as_str(),
                "name": m.name,
                "reasoning": m.capabilities.reasoning,
                "api": p.api,
                "dialect": p.dialect,
                "dialectSource": p.dialect_source,
                "input": m.input,
                "contextWindow": m.context_window,
                "maxTokens": m.max_tokens,
                "aliases": config.aliases_of(&model_ref).collect::<Vec<_>>(),
                "key": key_status(&p.api_key),
                "retired": m.retired.map(|r| json!({"on": r.on, "successor": format!("{}/{}", p.id, r.successor)})),
            })
        })
        .collect();
    if json {
        print_json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let columns = [
        "ref",
        "name",
        "dialect",
        "api",
        "reasoning",
        "input",
        "contextWindow",
        "maxTokens",
        "aliases",
        "retired",
        "key",
    ];
    let headings = [
        "REF",
        "NAME",
        "DIALECT",
        "API",
        "REASONING",
        "INPUT",
        "CONTEXT",
        "MAX OUT",
        "ALIAS",
        "RETIRED",
        "KEY",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| match *c {
                    "dialect" => format!("{} ({})", text(&row[c]), text(&row["dialectSource"])),
                    "retired" if row[c].is_object() => {
                        format!("{} -> {}", text(&row[c]["on"]), text(&row[c]["successor"]))
                    }
                    _ => text(&row[c]),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([headings[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |fields: Vec<&str>| {
        let padded: Vec<String> = fields
            .iter()
            .zip(&widths)
            .map(|(f, w)| format!("{f:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(headings.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(ExitCode::SUCCESS)
}
