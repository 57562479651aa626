//! The GenAI conventions' histograms for OTLP, when
//! `gateway.telemetry.metrics` is on: `gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration` and `gen_ai.server.time_to_first_token`
//! of every answered request, cumulative since the start, with the same
//! buckets and attributes as their `/metrics` twins
//! ([`crate::ops::metrics`]), written as one OTLP request per export.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::{scope, text};
use crate::ops::metrics::{SECONDS_BUCKETS, TOKEN_BUCKETS};

/// Series kept at most: targets come from the config, so only reloads
/// that keep renaming them get there; past it new ones are not recorded.
const SERIES_KEPT: usize = 4096;

/// `(name, unit, buckets)` of each histogram.
const TOKENS: (&str, &str, &[f64]) = ("gen_ai.client.token.usage", "{token}", &TOKEN_BUCKETS);
const DURATION: (&str, &str, &[f64]) = ("gen_ai.client.operation.duration", "s", &SECONDS_BUCKETS);
const FIRST_TOKEN: (&str, &str, &[f64]) =
    ("gen_ai.server.time_to_first_token", "s", &SECONDS_BUCKETS);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Series {
    metric: &'static str,
    provider: String,
    model: String,
    token_type: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Counts {
    /// One more than the bounds: the last counts what is above them all.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

pub struct Histograms {
    started: SystemTime,
    series: Mutex<HashMap<Series, Counts>>,
}

impl Default for Histograms {
    fn default() -> Self {
        Self {
            started: SystemTime::now(),
            series: Mutex::default(),
        }
    }
}

/// What one answered request adds.
pub struct Answered<'a> {
    pub provider: &'a str,
    /// The ref of the model that answered.
    pub model: &'a str,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub total: Duration,
    /// `None` when no response head was sent (the client left first).
    pub first_byte: Option<Duration>,
}

impl Histograms {
    pub fn record(&self, answered: &Answered) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut add =
            |(metric, _, bounds): (&'static str, &str, &[f64]), token_type, value: f64| {
                let key = Series {
                    metric,
                    provider: answered.provider.to_string(),
                    model: answered.model.to_string(),
                    token_type,
                };
                if !series.contains_key(&key) && series.len() >= SERIES_KEPT {
                    return;
                }
                let counts = series.entry(key).or_insert_with(|| Counts {
                    buckets: vec![0; bounds.len() + 1],
                    min: value,
                    max: value,
                    ..Counts::default()
                });
                counts.buckets[bounds.partition_point(|bound| *bound < value)] += 1;
                counts.count += 1;
                counts.sum += value;
                counts.min = counts.min.min(value);
                counts.max = counts.max.max(value);
            };
        for (token_type, count) in [
            ("input", answered.input_tokens),
            ("output", answered.output_tokens),
        ] {
            if let Some(count) = count {
                add(TOKENS, Some(token_type), count as f64);
            }
        }
        add(DURATION, None, answered.total.as_secs_f64());
        if let Some(first_byte) = answered.first_byte {
            add(FIRST_TOKEN, None, first_byte.as_secs_f64());
        }
    }

    /// Everything recorded so far, as one export.
    pub fn request(&self, resource: &Resource) -> Option<ExportMetricsServiceRequest> {
        let nanos = |at: SystemTime| {
            at.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        let (start, now) = (nanos(self.started), nanos(SystemTime::now()));
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.is_empty() {
            return None;
        }
        let metrics = [TOKENS, DURATION, FIRST_TOKEN]
            .into_iter()
            .map(|(name, unit, bounds)| {
                let data_points = series
                    .iter()
                    .filter(|(key, _)| key.metric == name)
                    .map(|(key, counts)| {
                        let mut attributes = vec![
                            text("gen_ai.operation.name", "chat"),
                            text("gen_ai.provider.name", key.provider.as_str()),
                            text("gen_ai.response.model", key.model.as_str()),
                        ];
                        attributes.extend(key.token_type.map(|t| text("gen_ai.token.type", t)));
                        HistogramDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count: counts.count,
                            sum: Some(counts.sum),
                            bucket_counts: counts.buckets.clone(),
                            explicit_bounds: bounds.to_vec(),
                            min: Some(counts.min),
                            max: Some(counts.max),
                            ..HistogramDataPoint::default()
                        }
                    })
                    .collect();
                Metric {
                    name: name.into(),
                    unit: unit.into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })),
                    ..Metric::default()
                }
            })
            .collect();
        Some(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_add_up_in_cumulative_buckets() {
        let histograms = Histograms::default();
        assert!(histograms.request(&Resource::default()).is_none());
        for input in [10, 5, 1] {
            histograms.record(&Answered {
                provider: "p",
                model: "p/m",
                input_tokens: Some(input),
                output_tokens: None,
                total: Duration::from_millis(300),
                first_byte: Some(Duration::from_millis(80)),
            });
        }
        let request = histograms.request(&Resource::default()).unwrap();
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "gen_ai.client.token.usage",
                "gen_ai.client.operation.duration",
                "gen_ai.server.time_to_first_token"
            ]
        );
        let Some(metric::Data::Histogram(tokens)) = &metrics[0].data else {
            panic!("a histogram")
        };
        assert_eq!(
            tokens.data_points.len(),
            1,
            "no output tokens were reported"
        );
        let point = &tokens.data_points[0];
        assert_eq!((point.count, point.sum), (3, Some(16.0)));
        // 1 within 1; 5 within 16 (the third bucket), 10 too.
        assert_eq!(&point.bucket_counts[..4], &[1, 0, 2, 0]);
        assert_eq!((point.min, point.max), (Some(1.0), Some(10.0)));
        assert!(
            point
                .attributes
                .contains(&text("gen_ai.token.type", "input"))
        );
        let Some(metric::Data::Histogram(duration)) = &metrics[1].data else {
            panic!("a histogram")
        };
        // 0.3 s: above 0.25, within 0.5 (the fourth bucket).
        assert_eq!(duration.data_points[0].bucket_counts[3], 3);
    }
}
