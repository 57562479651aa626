//! `gateway.*`: where to listen, authentication, limits and timeouts.

use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::super::raw::RawGateway;
use super::super::{DEFAULT_PORT, GatewaySettings, Timeouts};
use super::{MissingVar, Validator};

const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

fn seconds(v: &mut Validator, path: &str, value: Option<f64>, default: f64) -> Duration {
    let value = value.unwrap_or(default);
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Duration::from_secs_f64(value)
    } else {
        v.error(
            path,
            format!("expected a number of seconds between 0 and 86400, found {value}"),
        );
        Duration::from_secs_f64(default)
    }
}

pub(super) fn gateway_settings(
    raw: RawGateway,
    missing: &[MissingVar],
    v: &mut Validator,
) -> GatewaySettings {
    let bind = match raw.bind.as_deref() {
        None => IpAddr::from([127, 0, 0, 1]),
        Some("loopback" | "localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(text) => text.parse().unwrap_or_else(|_| {
            v.error(
                "gateway.bind",
                format!("expected an IP address, found {text:?}"),
            );
            IpAddr::from([127, 0, 0, 1])
        }),
    };
    let token_unresolved = missing.iter().any(|m| m.path == "gateway.auth.token");
    let auth_token = match raw.auth.token {
        // Reported with the other unset variables.
        Some(_) if token_unresolved => None,
        Some(token) if token.is_empty() => {
            v.error(
                "gateway.auth.token",
                "must not be empty; remove it to disable authentication",
            );
            None
        }
        Some(token) => Some(SecretString::from(token)),
        None => None,
    };
    if !bind.is_loopback() && auth_token.is_none() && !token_unresolved {
        v.error(
            "gateway.bind",
            format!("{bind} is not a loopback address; set gateway.auth.token to serve beyond this machine"),
        );
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        v.error(
            "gateway.maxBodyBytes",
            format!("must be at least 1024, found {max_body_bytes}"),
        );
    }
    GatewaySettings {
        port: raw.port.unwrap_or(DEFAULT_PORT),
        bind,
        auth_token,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        shutdown_grace: seconds(
            v,
            "gateway.shutdownGraceSeconds",
            raw.shutdown_grace_seconds,
            30.0,
        ),
        timeouts: Timeouts {
            connect: seconds(
                v,
                "gateway.timeouts.connectSeconds",
                raw.timeouts.connect_seconds,
                10.0,
            ),
            first_byte: seconds(
                v,
                "gateway.timeouts.firstByteSeconds",
                raw.timeouts.first_byte_seconds,
                300.0,
            ),
            idle: seconds(
                v,
                "gateway.timeouts.idleSeconds",
                raw.timeouts.idle_seconds,
                300.0,
            ),
        },
    }
}
