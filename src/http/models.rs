//! `GET /v1/models` and `GET /v1/models/{id}`: every configured model,
//! `default` and every alias the client may use, never a key. A model the
//! client may not use is not there for it: left out of the list, 404 by
//! name.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Value, json};

use super::ApiError;
use super::guard::Caller;
use crate::config::{Config, ModelRef};
use crate::gateway::Gateway;

/// The entry for `id`, a name that resolves to `model_ref` (itself, an
/// alias, or `default`); `alias_of` is set when the name is not the ref.
fn entry(config: &Config, id: &str, model_ref: &ModelRef) -> Option<Value> {
    let target = config.target(model_ref)?;
    let (provider, model) = (&target.provider, &target.model);
    let alias_of = (id != model_ref.as_str()).then(|| model_ref.as_str());
    Some(json!({
        "id": id,
        "object": "model",
        "created": 0,
        "owned_by": provider.id,
        "name": model.name,
        "context_window": model.context_window,
        "max_output_tokens": model.max_tokens,
        "reasoning": model.reasoning,
        "input": model.input,
        "alias_of": alias_of,
    }))
}

/// `default` (the chain's primary) first, then each model followed by its
/// aliases: those the client may use.
pub async fn list_models(
    State(gateway): State<Arc<Gateway>>,
    Extension(Caller(client)): Extension<Caller>,
) -> Json<Value> {
    let config = gateway.config();
    let allowed = |model_ref: &ModelRef| client.may_use(model_ref);
    let mut data: Vec<Value> = Some(&config.routing.primary)
        .filter(|primary| allowed(primary))
        .and_then(|primary| entry(&config, "default", primary))
        .into_iter()
        .collect();
    for (model_ref, _, _) in config.models().filter(|(r, _, _)| allowed(r)) {
        data.extend(entry(&config, model_ref.as_str(), &model_ref));
        for alias in config.aliases_of(&model_ref) {
            data.extend(entry(&config, alias, &model_ref));
        }
    }
    Json(json!({"object": "list", "data": data}))
}

/// One model by any name a request may use: a ref, an alias, `default` or
/// a bare id one provider has; 404 for one the client may not use, as for
/// a name no model has.
pub async fn get_model(
    State(gateway): State<Arc<Gateway>>,
    Extension(Caller(client)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = gateway.config();
    let resolved = match id.as_str() {
        "default" => Some(config.routing.primary.clone()),
        name => config.resolve(name),
    };
    resolved
        .filter(|model_ref| client.may_use(model_ref))
        .and_then(|model_ref| entry(&config, &id, &model_ref))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(config.seen_by(config.unknown(&id), &client).to_string()))
}
