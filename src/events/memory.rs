//! The in-process event bus of the default single-instance run.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BusError, BusEvent, BusHealth, EventBus, EventStream, LocalFanout, Topic};

/// Delivers events to subscribers in this process only.
#[derive(Debug, Default)]
pub struct MemoryEventBus {
    fanout: LocalFanout,
}

impl MemoryEventBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, topic: &Topic, event: &BusEvent) -> Result<(), BusError> {
        self.fanout.deliver(topic, Arc::new(event.clone()));
        Ok(())
    }

    fn subscribe(&self, topic: &Topic) -> EventStream {
        self.fanout.subscribe(topic)
    }

    fn health(&self) -> BusHealth {
        BusHealth { connected: true, detail: "in-process".to_owned() }
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
