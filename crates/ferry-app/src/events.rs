//! A service's ECS events (DescribeServices' `events`: "(service web) has reached a steady
//! state.", tasks started and stopped, placement failures), oldest first like a log.

use std::time::Duration;

use ferry_core::platform::{Ecs, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::{self, Connected, Context};

/// Which service's events, and which of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventsInput {
    pub environment: String,
    pub service: String,
    /// Only events at most this old.
    pub since: Option<Duration>,
    /// Only the newest this many.
    pub limit: Option<usize>,
}

/// The events, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct EventsResult {
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    pub events: Vec<ServiceEvent>,
}

/// A service whose events can be read again and again (`--follow`).
pub struct EventsReader {
    connected: Connected,
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
}

impl EventsReader {
    /// Checks the names and connects; makes no call. Errors: an unknown environment or
    /// service (invalid input, exit 2).
    pub async fn open(ctx: &Context<'_>, environment: &str, service: &str) -> Result<EventsReader> {
        let config = project::load_config(ctx.project)?;
        let env = config.environment(environment).map_err(Error::config)?;
        config.service(service).map_err(Error::config)?;
        let ecs_service = config.ecs_service_name(environment, service).map_err(Error::config)?;
        let connected = project::connect(&config, environment, ctx.project.endpoint_url.as_deref()).await?;
        Ok(EventsReader {
            connected,
            environment: environment.to_string(),
            service: service.to_string(),
            cluster: env.cluster.clone(),
            ecs_service,
        })
    }

    /// The events ECS keeps for the service (its newest 100), oldest first: one
    /// DescribeServices. Errors: the service is not in the cluster (refused, exit 4), AWS (3).
    pub async fn read(&self) -> Result<Vec<ServiceEvent>> {
        let found = self.connected.ecs.describe_services(&self.cluster, std::slice::from_ref(&self.ecs_service)).await?;
        let Some(service) = found.into_iter().find(|s| s.name == self.ecs_service) else {
            return Err(Error::refused(format!(
                "{} in {}: no service {} in cluster {} ({})",
                self.service,
                self.environment,
                self.ecs_service,
                self.cluster,
                self.connected.endpoint.as_deref().unwrap_or(&self.connected.region)
            )));
        };
        Ok(oldest_first(service.events))
    }
}

/// Events as DescribeServices answers them (newest first) turned oldest first. Events of
/// the same millisecond keep ECS's order between them (a deployment's "deployment completed"
/// before its "has reached a steady state"): the list is reversed, then stably sorted by
/// time, never ordered by their random ids.
fn oldest_first(mut events: Vec<ServiceEvent>) -> Vec<ServiceEvent> {
    events.reverse();
    events.sort_by_key(|e| e.created_at);
    events
}

/// Of `events` (oldest first), those created at or after `since_ms`, and of those the newest
/// `limit`, still oldest first.
pub fn select(events: Vec<ServiceEvent>, since_ms: Option<i64>, limit: Option<usize>) -> Vec<ServiceEvent> {
    let mut events: Vec<ServiceEvent> = events.into_iter().filter(|e| since_ms.is_none_or(|since| e.created_at >= since)).collect();
    if let Some(limit) = limit {
        let skip = events.len().saturating_sub(limit);
        events.drain(..skip);
    }
    events
}

/// Reads the service's events once, filtered as asked.
pub async fn events(ctx: &Context<'_>, input: EventsInput) -> Result<EventsResult> {
    let reader = EventsReader::open(ctx, &input.environment, &input.service).await?;
    let since_ms = input.since.map(|d| crate::journal::now_ms() - d.as_millis() as i64);
    let events = select(reader.read().await?, since_ms, input.limit);
    Ok(EventsResult {
        environment: reader.environment,
        service: reader.service,
        cluster: reader.cluster,
        ecs_service: reader.ecs_service,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, at: i64) -> ServiceEvent {
        ServiceEvent { id: id.into(), created_at: at, message: format!("event {id}") }
    }

    #[test]
    fn events_of_the_same_millisecond_keep_ecs_order_not_their_ids_order() {
        // DescribeServices answers newest first; "z-completed" came before "a-steady" in
        // the same millisecond, and the ids would sort them the other way.
        let ecs = vec![event("a-steady", 500), event("z-completed", 500), event("started", 100)];
        let ids: Vec<String> = oldest_first(ecs).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["started", "z-completed", "a-steady"]);
    }

    #[test]
    fn since_keeps_the_recent_events_and_limit_the_newest_of_them_oldest_first() {
        let all = vec![event("a", 100), event("b", 200), event("c", 300), event("d", 400)];
        let ids = |events: Vec<ServiceEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(select(all.clone(), None, None)), ["a", "b", "c", "d"]);
        assert_eq!(ids(select(all.clone(), Some(200), None)), ["b", "c", "d"]);
        assert_eq!(ids(select(all.clone(), None, Some(2))), ["c", "d"]);
        assert_eq!(ids(select(all.clone(), Some(350), Some(2))), ["d"]);
        assert!(select(all, Some(500), None).is_empty());
    }
}
