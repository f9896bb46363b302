//! The job types a worker runs, each with its handler. The worker claims only these types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use herald_core::JobType;

use crate::builtins;
use crate::handler::Handler;

/// Job types and their handlers.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<JobType, Arc<dyn Handler>>,
}

impl Registry {
    /// A registry without any job type.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the contract's built-in job types: `demo.report`, `demo.sleep` and
    /// `demo.fail`.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        for (job_type, handler) in builtins::all() {
            registry.register(job_type, handler);
        }
        registry
    }

    /// Registers `handler` for `job_type`, replacing any handler registered before.
    pub fn register(&mut self, job_type: JobType, handler: Arc<dyn Handler>) -> &mut Self {
        self.handlers.insert(job_type, handler);
        self
    }

    /// The handler of `job_type`, if this registry has one.
    pub fn get(&self, job_type: &JobType) -> Option<Arc<dyn Handler>> {
        self.handlers.get(job_type).cloned()
    }

    /// Whether `job_type` has a handler here.
    pub fn contains(&self, job_type: &JobType) -> bool {
        self.handlers.contains_key(job_type)
    }

    /// The registered job types, in name order.
    pub fn types(&self) -> Vec<JobType> {
        self.handlers.keys().cloned().collect()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtins_are_registered_under_the_contract_names() {
        let names: Vec<String> = Registry::with_builtins()
            .types()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(names, ["demo.fail", "demo.report", "demo.sleep"]);
    }

    #[test]
    fn an_empty_registry_has_no_types() {
        let registry = Registry::new();
        assert!(registry.types().is_empty());
        let demo = JobType::parse("demo.sleep").unwrap();
        assert!(!registry.contains(&demo));
        assert!(registry.get(&demo).is_none());
    }
}
