//! `clawgate config validate` and `clawgate config show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{CliError, SourceArgs, chain_text, print_json};
use crate::config::Secrets;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config; exit 1 with every error listed if it is invalid.
    Validate {
        #[command(flatten)]
        source: SourceArgs,
        /// Do not require referenced environment variables to be set.
        #[arg(long)]
        offline: bool,
        /// Print the result as JSON: valid, source and errors; a valid config's warnings and ignored keys too.
        #[arg(long)]
        json: bool,
    },
    /// Print the resolved config with every secret redacted.
    Show {
        #[command(flatten)]
        source: SourceArgs,
    },
}

pub fn validate(source_args: &SourceArgs, offline: bool, json: bool) -> Result<ExitCode, CliError> {
    let secrets = if offline {
        Secrets::Offline
    } else {
        Secrets::Required
    };
    let result = source_args.load(secrets);
    let (valid, text, value) = match &result {
        Ok((source, loaded)) => {
            let mut lines = vec![format!(
                "{source}: valid; {} providers; chain {}",
                loaded.config.providers.len(),
                chain_text(&loaded.config)
            )];
            lines.extend(loaded.warnings.iter().map(|w| format!("warning: {w}")));
            if !loaded.ignored.is_empty() {
                lines.push(format!("ignored keys: {}", loaded.ignored.join(", ")));
            }
            let value = json!({
                "valid": true,
                "source": source.to_string(),
                "errors": [],
                "warnings": loaded.warnings,
                "ignored": loaded.ignored,
            });
            (true, lines.join("\n"), value)
        }
        Err(CliError::Config {
            origin: source,
            errors,
        }) => {
            let value = json!({
                "valid": false,
                "source": source.to_string(),
                "errors": errors.0.iter().map(|e| json!({"path": e.path, "message": e.message})).collect::<Vec<_>>(),
            });
            (false, format!("{source}: invalid\n{errors}"), value)
        }
        // No config was read (none where it was named, two where one is
        // looked for, an env file that cannot be): said in the JSON too.
        Err(other) if json => {
            let message = other.to_string();
            let error = json!({"valid": false, "source": null, "errors": [{"path": "", "message": message}]});
            print_json(&error);
            return Ok(ExitCode::FAILURE);
        }
        Err(_) => return result.map(|_| ExitCode::SUCCESS),
    };
    if json {
        print_json(&value);
    } else if valid {
        outln!("{text}");
    } else {
        errln!("{text}");
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn show(source_args: &SourceArgs) -> Result<ExitCode, CliError> {
    let (_, loaded) = source_args.load(Secrets::Offline)?;
    print_json(&loaded.config.redacted());
    Ok(ExitCode::SUCCESS)
}
