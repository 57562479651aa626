//! [`Secret`]: how the config holds a secret so that nothing shows it,
//! `config show` included.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};

use crate::ops::redact::REDACTED;

/// A secret of the config (the gateway's token, a provider's key): its
/// `Debug` and its serialisation show only [`REDACTED`]; the secret itself
/// only through [`ExposeSecret`].
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct Secret(#[serde(serialize_with = "masked")] SecretString);

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(SecretString::from(secret))
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Shows any value as [`REDACTED`] (a client's key digest).
pub(super) fn masked<T, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(REDACTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_serialises_only_as_the_marker() {
        let secret = Secret::from("sk-kimi-0123456789abcdef".to_string());
        assert_eq!(serde_json::to_value(&secret).unwrap(), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(secret.expose_secret(), "sk-kimi-0123456789abcdef");
    }
}
