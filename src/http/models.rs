//! `GET /v1/models`: every configured model and alias, never a key.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::config::ModelRef;
use crate::gateway::Gateway;

pub async fn list_models(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let config = gateway.config();
    let mut data = Vec::new();
    for (model_ref, provider, model) in config.models() {
        let entry = |id: &str, alias_of: Option<&ModelRef>| {
            json!({
                "id": id,
                "object": "model",
                "created": 0,
                "owned_by": provider.id,
                "name": model.name,
                "context_window": model.context_window,
                "max_output_tokens": model.max_tokens,
                "reasoning": model.reasoning,
                "input": model.input,
                "alias_of": alias_of.map(ModelRef::as_str),
            })
        };
        data.push(entry(model_ref.as_str(), None));
        for alias in config.aliases_of(&model_ref) {
            data.push(entry(alias, Some(&model_ref)));
        }
    }
    Json(json!({"object": "list", "data": data}))
}
