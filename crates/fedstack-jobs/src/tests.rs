//! The engine against a fake workflow whose steps make named things in a shared "world" and
//! record them, so that double work and leftovers show.

use crate::model::{JobState, NewJob, Step};
use crate::runner::{CancelOutcome, Runner, RunnerConfig};
use crate::store::{Created, JobStore};
use crate::workflow::{JobContext, StepError, Workflow};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STEPS: &[Step] = &[
    Step::reversible("a"),
    Step::reversible("b"),
    Step::reversible("c"),
    Step::irreversible("commit"),
];

/// How the fake misbehaves.
#[derive(Default)]
struct Faults {
    /// Transient failures left per step.
    transient: HashMap<&'static str, u32>,
    fatal_at: Option<&'static str>,
    /// The step waits here, checking for cancel, until cancelled.
    block_at: Option<&'static str>,
}

#[derive(Default)]
struct World {
    /// How many times each thing was made.
    made: HashMap<String, u32>,
    /// Things that exist now.
    live: Vec<String>,
    /// Undo calls, in order.
    undone: Vec<String>,
}

struct Fake {
    faults: Mutex<Faults>,
    world: Arc<Mutex<World>>,
}

impl Fake {
    fn new(faults: Faults) -> Arc<Fake> {
        Arc::new(Fake {
            faults: Mutex::new(faults),
            world: Arc::default(),
        })
    }

    async fn step(&self, step: &'static str, cx: &mut JobContext) -> Result<(), StepError> {
        let (fail, fatal, block) = {
            let mut f = self.faults.lock().unwrap();
            let fail = match f.transient.get_mut(step) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            (fail, f.fatal_at == Some(step), f.block_at == Some(step))
        };
        if cx.get::<String>(step).is_none() {
            let thing = format!("{}-{step}", cx.id());
            {
                let mut w = self.world.lock().unwrap();
                *w.made.entry(step.to_string()).or_default() += 1;
                w.live.push(thing.clone());
            }
            cx.put(step, thing).await?;
        }
        if block {
            loop {
                cx.check().await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if fail {
            return Err(StepError::Transient(format!("{step} is busy")));
        }
        if fatal {
            return Err(StepError::Fatal(format!("{step} cannot be done")));
        }
        Ok(())
    }

    async fn unstep(&self, step: &'static str, cx: &mut JobContext) -> Result<(), StepError> {
        let mut w = self.world.lock().unwrap();
        w.undone.push(step.to_string());
        if let Some(thing) = cx.get::<String>(step) {
            w.live.retain(|t| *t != thing);
        }
        Ok(())
    }
}

impl Workflow for Fake {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn steps(&self) -> &'static [Step] {
        STEPS
    }
    fn run<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        self.step(step, cx).boxed()
    }
    fn undo<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        self.unstep(step, cx).boxed()
    }
}

async fn store() -> JobStore {
    let dir = std::env::temp_dir().join(format!("fedstack-jobs-test-{}", uuid::Uuid::new_v4()));
    let s = fedstack_store::Store::open_in_dir(&dir)
        .await
        .expect("open test store");
    JobStore::new(s.pool().clone())
}

fn config() -> RunnerConfig {
    RunnerConfig {
        lease: Duration::from_millis(600),
        poll: Duration::from_millis(20),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        parallel: 4,
    }
}

fn runner(store: &JobStore, fake: &Arc<Fake>) -> Arc<Runner> {
    let mut r = Runner::new(store.clone(), config());
    r.register(fake.clone());
    Arc::new(r)
}

fn new_job(resource: &str, key: Option<&str>) -> NewJob {
    NewJob {
        kind: "fake".into(),
        resource: resource.into(),
        idempotency_key: key.map(String::from),
        project_id: "p".into(),
        params: json!({"resource": resource}),
    }
}

async fn submit(r: &Runner, resource: &str) -> String {
    match r.submit(&new_job(resource, None)).await.unwrap() {
        Created::New(j) => j.id,
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// Waits for the job to reach a final state.
async fn settle(store: &JobStore, id: &str) -> crate::model::Job {
    for _ in 0..500 {
        let j = store.get(id).await.unwrap().unwrap();
        if j.state.is_final() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} did not finish");
}

async fn event_kinds(store: &JobStore, id: &str) -> Vec<String> {
    store
        .events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}:{}", e.kind, e.step.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn steps_run_once_in_order() {
    let (s, fake) = (store().await, Fake::new(Faults::default()));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    let j = settle(&s, &id).await;
    assert_eq!(j.state, JobState::Done);
    assert_eq!(r.progress(&j), 100.0);
    assert!(j.lease_owner.is_none() && j.finished_at.is_some());
    {
        let w = fake.world.lock().unwrap();
        assert_eq!(w.made.values().sum::<u32>(), 4);
        assert!(w.undone.is_empty());
    }
    let done: Vec<_> = event_kinds(&s, &id)
        .await
        .into_iter()
        .filter(|e| e.starts_with("step_done"))
        .collect();
    assert_eq!(
        done,
        [
            "step_done:a",
            "step_done:b",
            "step_done:c",
            "step_done:commit"
        ]
    );
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let faults = Faults {
        transient: HashMap::from([("b", 2)]),
        ..Default::default()
    };
    let (s, fake) = (store().await, Fake::new(faults));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    assert_eq!(settle(&s, &id).await.state, JobState::Done);
    let events = event_kinds(&s, &id).await;
    assert_eq!(events.iter().filter(|e| *e == "retry:b").count(), 2);
    assert_eq!(
        fake.world.lock().unwrap().made["b"],
        1,
        "a retry finds what it made"
    );
}

#[tokio::test]
async fn a_fatal_failure_rolls_back_in_reverse() {
    let faults = Faults {
        fatal_at: Some("c"),
        ..Default::default()
    };
    let (s, fake) = (store().await, Fake::new(faults));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    let j = settle(&s, &id).await;
    assert_eq!(j.state, JobState::RolledBack);
    assert_eq!(j.error.as_deref(), Some("c cannot be done"));
    {
        let w = fake.world.lock().unwrap();
        assert_eq!(w.undone, ["c", "b", "a"]);
        assert!(w.live.is_empty(), "nothing left behind: {:?}", w.live);
    }
    assert!(s.active_on("server/1").await.unwrap().is_none());
}

#[tokio::test]
async fn retries_run_out_then_the_job_rolls_back() {
    let faults = Faults {
        transient: HashMap::from([("b", 100)]),
        ..Default::default()
    };
    let (s, fake) = (store().await, Fake::new(faults));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    let j = settle(&s, &id).await;
    assert_eq!(j.state, JobState::RolledBack);
    assert_eq!(j.error.as_deref(), Some("b is busy"));
    assert_eq!(fake.world.lock().unwrap().undone, ["b", "a"]);
}

#[tokio::test]
async fn past_the_point_of_no_return_failures_retry_forward() {
    let faults = Faults {
        transient: HashMap::from([("commit", 5)]),
        ..Default::default()
    };
    let (s, fake) = (store().await, Fake::new(faults));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    let j = settle(&s, &id).await;
    assert_eq!(
        j.state,
        JobState::Done,
        "more failures than max_attempts, still forward"
    );
    assert!(fake.world.lock().unwrap().undone.is_empty());
}

#[tokio::test]
async fn cancel_stops_the_running_step_and_rolls_back() {
    let faults = Faults {
        block_at: Some("b"),
        ..Default::default()
    };
    let (s, fake) = (store().await, Fake::new(faults));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    for _ in 0..200 {
        if fake.world.lock().unwrap().made.contains_key("b") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        r.cancel(&id).await.unwrap(),
        CancelOutcome::Requested(_)
    ));
    let j = settle(&s, &id).await;
    assert_eq!(j.state, JobState::Cancelled);
    assert_eq!(j.error.as_deref(), Some("cancelled by request"));
    let w = fake.world.lock().unwrap();
    assert_eq!(w.undone, ["b", "a"]);
    assert!(w.live.is_empty());
    assert!(!w.made.contains_key("c"), "no step after the cancel ran");
}

#[tokio::test]
async fn cancel_after_the_end_is_too_late() {
    let (s, fake) = (store().await, Fake::new(Faults::default()));
    let r = runner(&s, &fake);
    tokio::spawn(r.clone().run());
    let id = submit(&r, "server/1").await;
    settle(&s, &id).await;
    assert!(matches!(
        r.cancel(&id).await.unwrap(),
        CancelOutcome::TooLate(j) if j.state == JobState::Done
    ));
    assert_eq!(r.cancel("nope").await.unwrap(), CancelOutcome::NotFound);
}

#[tokio::test]
async fn one_active_job_per_resource() {
    let (s, fake) = (store().await, Fake::new(Faults::default()));
    let r = runner(&s, &fake);
    let first = submit(&r, "server/1").await;
    match r.submit(&new_job("server/1", None)).await.unwrap() {
        Created::Busy(j) => assert_eq!(j.id, first),
        other => panic!("expected busy, got {other:?}"),
    }
    submit(&r, "server/2").await;
    tokio::spawn(r.clone().run());
    settle(&s, &first).await;
    submit(&r, "server/1").await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_job_it_made() {
    let (s, fake) = (store().await, Fake::new(Faults::default()));
    let r = runner(&s, &fake);
    let Created::New(a) = r.submit(&new_job("server/1", Some("k1"))).await.unwrap() else {
        panic!("first submit makes a job");
    };
    match r.submit(&new_job("server/1", Some("k1"))).await.unwrap() {
        Created::Existing(b) => assert_eq!(b.id, a.id),
        other => panic!("expected the existing job, got {other:?}"),
    }
    tokio::spawn(r.clone().run());
    settle(&s, &a.id).await;
    assert!(matches!(
        r.submit(&new_job("server/1", Some("k1"))).await.unwrap(),
        Created::Existing(_)
    ));
    assert_eq!(s.list(&Default::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_crashed_node_s_job_resumes_without_doing_a_step_twice() {
    let (s, fake) = (store().await, Fake::new(Faults::default()));
    let r = runner(&s, &fake);
    let id = submit(&r, "server/1").await;
    // A node claimed the job, ran `a` (made its thing and recorded it), started `b`, made
    // its thing and recorded it, then died before moving its cursor past `b`.
    assert!(s.claim(&id, "dead-node", 50).await.unwrap());
    let mut data = serde_json::Map::new();
    for step in ["a", "b"] {
        let thing = format!("{id}-{step}");
        data.insert(step.into(), json!(thing));
        let mut w = fake.world.lock().unwrap();
        *w.made.entry(step.into()).or_default() += 1;
        w.live.push(thing);
    }
    assert!(s.set_data(&id, "dead-node", &data).await.unwrap());
    assert!(s
        .set_position(&id, "dead-node", JobState::Running, 1, 0, None, 0, false)
        .await
        .unwrap());
    tokio::spawn(r.clone().run());
    let j = settle(&s, &id).await;
    assert_eq!(j.state, JobState::Done);
    {
        let w = fake.world.lock().unwrap();
        assert_eq!(w.made["a"], 1);
        assert_eq!(w.made["b"], 1, "the re-run of b found what it made");
        assert_eq!(w.made["c"], 1);
    }
    assert!(event_kinds(&s, &id)
        .await
        .contains(&"resumed:b".to_string()));
}

#[tokio::test]
async fn a_node_that_lost_its_lease_cannot_write() {
    let s = store().await;
    let Created::New(j) = s.create(&new_job("server/1", None)).await.unwrap() else {
        panic!("new job");
    };
    assert!(s.claim(&j.id, "n1", 30).await.unwrap());
    assert!(
        !s.claim(&j.id, "n2", 30).await.unwrap(),
        "a live lease holds"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        s.claim(&j.id, "n2", 1000).await.unwrap(),
        "an expired one does not"
    );
    assert!(!s.renew(&j.id, "n1", 1000).await.unwrap());
    assert!(!s
        .set_position(&j.id, "n1", JobState::Done, 9, 0, None, 0, true)
        .await
        .unwrap());
    assert_eq!(s.get(&j.id).await.unwrap().unwrap().state, JobState::Queued);
}
