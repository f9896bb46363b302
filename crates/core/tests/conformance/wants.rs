//! Whether a webhook target wants an event has one rule, in Rust: [`Subscription::wants`] for
//! a subscription and [`JobHookEndpoint::wants`] for a job's own webhook. The memory backend
//! applies it as it writes; the Redis backend keeps counters of what a tenant's subscriptions
//! want and asks them from its scripts. This property test has both agree with the rule:
//! random subscriptions of a tenant are created, patched, disabled (by a client or by Herald),
//! enabled again, rotated and deleted, between the steps of a job of a random type that runs
//! to its end; after every step the outbox holds exactly the new events some target wants,
//! and each subscription lists a delivery of exactly the events it wanted when they happened.
//!
//! The cases are drawn from a seeded runner (the seed is printed, to draw them again) and run
//! on one store, each with a tenant of its own; a failing case is printed whole.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use herald_core::store::CancelOutcome;
use herald_core::store::webhooks::{DeliveryQuery, OutboxEntry};
use herald_core::webhook::{
    Delivery, JobHook, JobHookEndpoint, Subscription, SubscriptionRequest, WebhookSecret,
    render_body, targets,
};
use herald_core::{ErrorCode, Event, EventType, JobError, Progress, SubscriptionId, TenantId};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::json;

use crate::support::{Backend, Harness, for_tenant, job_type, new_job_with, open_default};

herald_testkit::on_every_backend!(
    the_outbox_and_the_deliveries_follow_the_wants_rule_through_random_subscription_changes,
);

/// Cases per backend: enough to meet every kind of change between every kind of step, few
/// enough that Redis runs them in a few seconds.
const CASES: usize = 96;
const CONSUMER: &str = "wants";
/// The job types jobs are drawn from.
const JOB_TYPES: [&str; 3] = ["demo.sleep", "demo.report", "demo.fail"];
/// The job types subscriptions filter on: those of the jobs, and one no job has.
const FILTER_TYPES: [&str; 4] = ["demo.sleep", "demo.report", "demo.fail", "other.kind"];

/// A change to the tenant's subscriptions; `which` picks one of the current ones (modulo how
/// many there are; nothing happens when there is none).
#[derive(Debug, Clone)]
enum Change {
    Create {
        events: Vec<EventType>,
        job_types: Vec<&'static str>,
        enabled: bool,
    },
    Patch {
        which: usize,
        events: Option<Vec<EventType>>,
        job_types: Option<Vec<&'static str>>,
    },
    /// Disabled by a client (`PATCH enabled: false`), or by Herald (`410 Gone`).
    Disable {
        which: usize,
        by_herald: bool,
    },
    Enable {
        which: usize,
    },
    Rotate {
        which: usize,
    },
    Delete {
        which: usize,
    },
}

/// A step of the job's life.
#[derive(Debug, Clone, Copy)]
enum Step {
    Create,
    Claim,
    Progress,
    /// The attempt fails, to be retried at once.
    FailAndRetry,
    Complete,
    FailForGood,
    /// A client cancels the processing job and its worker acknowledges.
    CancelProcessing,
    /// A client cancels the pending job.
    CancelPending,
}

/// One case: a job of `job_type` (its own webhook wanting `hook_events`, if any) going through
/// `steps`, with `changes[i]` made to the tenant's subscriptions before step `i`.
#[derive(Debug, Clone)]
struct Case {
    job_type: &'static str,
    hook_events: Option<Vec<EventType>>,
    steps: Vec<Step>,
    changes: Vec<Vec<Change>>,
}

fn event_types() -> impl Strategy<Value = Vec<EventType>> {
    prop::sample::subsequence(EventType::ALL.to_vec(), 1..=EventType::ALL.len()).prop_shuffle()
}

fn filter_types() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(FILTER_TYPES.to_vec(), 0..=2)
}

fn change() -> impl Strategy<Value = Change> {
    let which = any::<usize>();
    prop_oneof![
        3 => (event_types(), filter_types(), prop::bool::weighted(0.8))
            .prop_map(|(events, job_types, enabled)| Change::Create { events, job_types, enabled }),
        2 => (which, prop::option::of(event_types()), prop::option::of(filter_types()))
            .prop_map(|(which, events, job_types)| Change::Patch { which, events, job_types }),
        1 => (which, any::<bool>())
            .prop_map(|(which, by_herald)| Change::Disable { which, by_herald }),
        1 => which.prop_map(|which| Change::Enable { which }),
        1 => which.prop_map(|which| Change::Rotate { which }),
        1 => which.prop_map(|which| Change::Delete { which }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let last = prop::sample::select(vec![
        Step::Complete,
        Step::FailForGood,
        Step::CancelProcessing,
    ]);
    prop_oneof![
        1 => Just(vec![Step::Create, Step::CancelPending]),
        4 => (any::<bool>(), any::<bool>(), last).prop_map(|(progress, retried, last)| {
            let mut steps = vec![Step::Create, Step::Claim];
            if progress {
                steps.push(Step::Progress);
            }
            if retried {
                steps.extend([Step::FailAndRetry, Step::Claim]);
            }
            steps.push(last);
            steps
        }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(JOB_TYPES.to_vec()),
        prop::option::weighted(0.3, event_types()),
        steps(),
        prop::collection::vec(change(), 1..6),
        prop::collection::vec(prop::collection::vec(change(), 0..3), 6),
    )
        .prop_map(|(job_type, hook_events, steps, first, later)| {
            let changes = std::iter::once(first)
                .chain(later)
                .take(steps.len())
                .collect();
            Case {
                job_type,
                hook_events,
                steps,
                changes,
            }
        })
}

/// Draws `count` cases from a runner seeded as every property test is.
fn draw(count: usize) -> Vec<Case> {
    let cases = u32::try_from(count).expect("a count of cases");
    let mut runner = TestRunner::new(herald_testkit::props::config(cases));
    let strategy = case();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

async fn the_outbox_and_the_deliveries_follow_the_wants_rule_through_random_subscription_changes(
    backend: Backend,
) {
    let h = open_default(backend).await;
    for (n, case) in draw(CASES).into_iter().enumerate() {
        let tenant = TenantId::parse(&format!("wants-{n}")).unwrap();
        Run::new(&h, tenant).play(&case).await;
    }
}

/// One case being played: the subscriptions as the test wrote them, and the events each one
/// wanted when they happened.
struct Run<'a> {
    h: &'a Harness,
    tenant: TenantId,
    subscriptions: Vec<Subscription>,
    wanted: BTreeMap<SubscriptionId, BTreeSet<u64>>,
}

impl<'a> Run<'a> {
    fn new(h: &'a Harness, tenant: TenantId) -> Self {
        Self {
            h,
            tenant,
            subscriptions: Vec::new(),
            wanted: BTreeMap::new(),
        }
    }

    async fn play(mut self, case: &Case) {
        let hook = case.hook_events.as_ref().map(|events| {
            JobHook::parse(json!({
                "url": "https://client.example/hook",
                "events": events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            }))
            .expect("a valid webhook")
        });
        let new = new_job_with(case.job_type, json!({}), |request| {
            request.max_attempts = Some(2);
            request.webhook = hook.as_ref().map(|hook| {
                json!({
                    "url": hook.url.as_str(),
                    "events": hook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                })
            });
        });
        let new = for_tenant(new, self.tenant.clone());
        let hook = hook.map(|hook| hook.endpoint());
        let kind = job_type(case.job_type);
        let mut job = None;
        let mut lease = None;
        let mut seen = 0;
        for (step, changes) in case.steps.iter().zip(&case.changes) {
            for change in changes {
                self.change(change).await;
            }
            let h = self.h;
            match step {
                Step::Create => job = Some(h.store.create(new.clone()).await.unwrap().job),
                Step::Claim => {
                    let mut claimed = h
                        .store
                        .claim(
                            &h.worker,
                            std::slice::from_ref(&kind),
                            1,
                            Duration::from_secs(10),
                        )
                        .await
                        .unwrap();
                    assert_eq!(claimed.len(), 1, "no job to claim in {case:?}");
                    lease = Some(claimed.remove(0).lease);
                }
                Step::Progress => {
                    let lease = lease.as_mut().unwrap();
                    h.store
                        .progress(lease, Progress::new(50, None))
                        .await
                        .unwrap();
                }
                Step::FailAndRetry => {
                    let error = JobError::new(ErrorCode::HandlerError, "flaky");
                    let lease = lease.take().unwrap();
                    h.store
                        .fail(lease, error, Some(Duration::ZERO))
                        .await
                        .unwrap();
                }
                Step::Complete => {
                    h.store.complete(lease.take().unwrap(), None).await.unwrap();
                }
                Step::FailForGood => {
                    let error = JobError::new(ErrorCode::HandlerError, "broken");
                    let lease = lease.take().unwrap();
                    h.store.fail(lease, error, None).await.unwrap();
                }
                Step::CancelProcessing => {
                    let id = &job.as_ref().unwrap().id;
                    let outcome = h.store.cancel(&self.tenant, id).await.unwrap();
                    assert!(matches!(outcome, Some(CancelOutcome::Requested(_))));
                    h.store.cancel_claimed(lease.take().unwrap()).await.unwrap();
                }
                Step::CancelPending => {
                    let id = &job.as_ref().unwrap().id;
                    let outcome = h.store.cancel(&self.tenant, id).await.unwrap();
                    assert!(matches!(outcome, Some(CancelOutcome::Canceled(_))));
                }
            }
            let id = job.as_ref().unwrap().id;
            let events = h.store.history(&self.tenant, &id, seen).await.unwrap();
            seen = events.last().map_or(seen, Event::seq);
            self.check_step(case, step, hook.as_ref(), &events).await;
        }
        assert!(lease.is_none(), "the job did not end in {case:?}");
    }

    /// Makes `change` through the public store API, keeping the test's copy in step.
    async fn change(&mut self, change: &Change) {
        let now = Utc::now();
        let hooks = &self.h.hooks;
        let pick = |which: usize| {
            (!self.subscriptions.is_empty()).then(|| which % self.subscriptions.len())
        };
        let request =
            |events: Option<&Vec<EventType>>, job_types: Option<&Vec<&str>>| SubscriptionRequest {
                events: events.map(|events| events.iter().map(|e| e.as_str().to_owned()).collect()),
                job_types: job_types.map(|types| types.iter().map(|t| (*t).to_owned()).collect()),
                ..SubscriptionRequest::default()
            };
        let (at, next) = match change {
            Change::Create {
                events,
                job_types,
                enabled,
            } => {
                let request = SubscriptionRequest {
                    url: Some("https://subscriber.example/events".to_owned()),
                    enabled: Some(*enabled),
                    ..request(Some(events), Some(job_types))
                };
                let sub = Subscription::create(self.tenant.clone(), request, now).unwrap();
                assert!(hooks.put_subscription(&sub, None).await.unwrap());
                self.wanted.insert(sub.id, BTreeSet::new());
                self.subscriptions.push(sub);
                return;
            }
            Change::Delete { which } => {
                let Some(at) = pick(*which) else { return };
                let sub = self.subscriptions.remove(at);
                assert!(
                    hooks
                        .delete_subscription(&self.tenant, &sub.id)
                        .await
                        .unwrap()
                );
                self.wanted.remove(&sub.id);
                return;
            }
            Change::Patch {
                which,
                events,
                job_types,
            } => {
                let Some(at) = pick(*which) else { return };
                let patch = request(events.as_ref(), job_types.as_ref());
                (at, self.subscriptions[at].patched(patch, now).unwrap())
            }
            Change::Disable { which, by_herald } => {
                let Some(at) = pick(*which) else { return };
                let sub = &self.subscriptions[at];
                let next = if *by_herald {
                    sub.disabled("the endpoint answered 410 Gone", now)
                } else {
                    let patch = SubscriptionRequest {
                        enabled: Some(false),
                        ..SubscriptionRequest::default()
                    };
                    sub.patched(patch, now).unwrap()
                };
                (at, next)
            }
            Change::Enable { which } => {
                let Some(at) = pick(*which) else { return };
                let patch = SubscriptionRequest {
                    enabled: Some(true),
                    ..SubscriptionRequest::default()
                };
                (at, self.subscriptions[at].patched(patch, now).unwrap())
            }
            Change::Rotate { which } => {
                let Some(at) = pick(*which) else { return };
                let secret = WebhookSecret::generate();
                let grace = Duration::from_secs(60);
                (at, self.subscriptions[at].rotated(secret, grace, now))
            }
        };
        let version = self.subscriptions[at].version;
        assert!(hooks.put_subscription(&next, Some(version)).await.unwrap());
        self.subscriptions[at] = next;
    }

    /// After a step that announced `events`: the outbox holds exactly those some target wants
    /// by the rule; expanded as a notifier would, each subscription lists exactly the events
    /// it wanted.
    async fn check_step(
        &mut self,
        case: &Case,
        step: &Step,
        hook: Option<&JobHookEndpoint>,
        events: &[Event],
    ) {
        let hooks = &self.h.hooks;
        let mut stored = hooks.subscriptions(&self.tenant).await.unwrap();
        stored.sort_by_key(|s| s.id);
        let mut ours = self.subscriptions.clone();
        ours.sort_by_key(|s| s.id);
        assert_eq!(
            stored, ours,
            "the stored subscriptions after {step:?} in {case:?}"
        );

        let mut expected = Vec::new();
        for event in events {
            let job_type = &event.job.job_type;
            let subscribed: Vec<_> = self
                .subscriptions
                .iter()
                .filter(|s| s.wants(event.kind, job_type))
                .collect();
            for sub in &subscribed {
                self.wanted.get_mut(&sub.id).unwrap().insert(event.seq());
            }
            if hook.is_some_and(|h| h.wants(event.kind)) || !subscribed.is_empty() {
                expected.push((event.seq(), event.kind));
            }
        }
        let entries = hooks
            .read_outbox(CONSUMER, 64, Duration::ZERO)
            .await
            .unwrap();
        let announced: Vec<_> = entries
            .iter()
            .map(|e| (e.event.seq(), e.event.kind))
            .collect();
        assert_eq!(
            announced,
            expected,
            "the outbox after {step:?} (events {:?}) in {case:?}",
            events.iter().map(|e| (e.seq(), e.kind)).collect::<Vec<_>>()
        );
        for entry in &entries {
            assert_eq!(entry.tenant, self.tenant);
            assert_eq!(entry.hook.as_ref(), hook);
            self.expand(entry, &stored).await;
        }

        for sub in &self.subscriptions {
            let query = DeliveryQuery {
                state: None,
                limit: DeliveryQuery::MAX_LIMIT,
                before: None,
            };
            let page = hooks
                .deliveries(&self.tenant, &sub.id, &query)
                .await
                .unwrap();
            let listed: BTreeSet<u64> = page.deliveries.iter().map(|d| d.seq).collect();
            assert_eq!(
                &listed, &self.wanted[&sub.id],
                "the deliveries of {sub:?} after {step:?} in {case:?}"
            );
        }
    }

    /// What a notifier does with an entry: a delivery per target that wants it.
    async fn expand(&self, entry: &OutboxEntry, subscriptions: &[Subscription]) {
        let deliveries: Vec<_> = targets(&entry.event, entry.hook.as_ref(), subscriptions)
            .into_iter()
            .map(|target| Delivery::new(target, &entry.tenant, &entry.event, Utc::now()))
            .collect();
        assert!(
            !deliveries.is_empty(),
            "an entry no target wants: {entry:?}"
        );
        let body = render_body(&entry.event).into();
        self.h.hooks.expand(entry, &deliveries, body).await.unwrap();
    }
}
