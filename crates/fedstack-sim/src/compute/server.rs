//! Servers: their state machine (vm_state, task_state, power_state) with lazy transitions,
//! their disk of real bytes, and the indexes lists are answered from.

use super::flavors::Flavor;
use super::hosts::Resources;
use super::quotas::Usage;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Duration, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Nova's `vm_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    Building,
    Active,
    Stopped,
    Paused,
    Suspended,
    Error,
    Deleted,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Building => "building",
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Error => "error",
            VmState::Deleted => "deleted",
        }
    }

    /// The hypervisor's power state once the vm state is reached.
    pub fn power_state(self) -> u8 {
        match self {
            VmState::Active => 1,
            VmState::Paused => 3,
            VmState::Stopped => 4,
            VmState::Suspended => 7,
            VmState::Building | VmState::Error | VmState::Deleted => 0,
        }
    }
}

/// A task in progress (Nova's `task_state`), with the phases it shows over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Build,
    PowerOff,
    PowerOn,
    Reboot,
    RebootHard,
    Pause,
    Unpause,
    Suspend,
    Resume,
    Snapshot,
    Rebuild,
    Delete,
}

impl Task {
    /// The `task_state` shown when `fraction` (0..1) of the task has elapsed.
    fn state_at(self, fraction: f64) -> &'static str {
        match self {
            Task::Build if fraction < 0.4 => "scheduling",
            Task::Build if fraction < 0.6 => "networking",
            Task::Build => "spawning",
            Task::PowerOff => "powering-off",
            Task::PowerOn => "powering-on",
            Task::Reboot => "rebooting",
            Task::RebootHard => "rebooting_hard",
            Task::Pause => "pausing",
            Task::Unpause => "unpausing",
            Task::Suspend => "suspending",
            Task::Resume => "resuming",
            Task::Snapshot if fraction < 0.5 => "image_snapshot_pending",
            Task::Snapshot => "image_uploading",
            Task::Rebuild if fraction < 0.5 => "rebuilding",
            Task::Rebuild => "rebuild_spawning",
            Task::Delete => "deleting",
        }
    }
}

/// A task under way: what it shows until `ends`, and the vm state it leaves.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub task: Task,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub then: VmState,
}

/// An instance fault (shown for ERROR servers).
#[derive(Debug, Clone)]
pub struct Fault {
    pub code: u16,
    pub created: DateTime<Utc>,
    pub message: String,
    pub details: String,
}

/// A server's lock.
#[derive(Debug, Clone)]
pub struct Lock {
    pub reason: Option<String>,
    pub by_admin: bool,
}

/// A volume attached to a server (a block device mapping).
#[derive(Debug, Clone)]
pub struct Attachment {
    pub volume_id: String,
    pub device: String,
    pub attachment_id: String,
    pub bdm_uuid: String,
    pub tag: Option<String>,
    pub delete_on_termination: bool,
}

/// One recorded instance action (`os-instance-actions`).
#[derive(Debug, Clone)]
pub struct Action {
    pub action: &'static str,
    pub request_id: String,
    pub user_id: String,
    pub project_id: String,
    pub start: DateTime<Utc>,
    pub finish: DateTime<Utc>,
    pub event: &'static str,
    pub host: Option<String>,
    pub failed: Option<String>,
}

/// A server's disk: the image's bytes, shared until first written (copy on write).
#[derive(Debug, Clone, Default)]
pub struct Disk {
    data: Bytes,
}

impl Disk {
    pub fn new(data: Bytes) -> Self {
        Disk { data }
    }

    pub fn bytes(&self) -> Bytes {
        self.data.clone()
    }

    /// Writes at `offset`, growing the disk; copies the bytes only when they are shared.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        let start = usize::try_from(offset).map_err(|_| "offset too large".to_string())?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(|| "offset too large".to_string())?;
        let mut buf = match std::mem::take(&mut self.data).try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[start..end].copy_from_slice(data);
        self.data = buf.freeze();
        Ok(())
    }

    pub fn replace(&mut self, data: Bytes) {
        self.data = data;
    }
}

/// A server.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: String,
    /// Creation order: lists are newest first.
    pub seq: u64,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// The flavor as it was at boot (Nova keeps its own copy).
    pub flavor: Flavor,
    /// `None` for a server booted from a volume.
    pub image_id: Option<String>,
    pub image_properties: Map<String, Value>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub launched_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub vm_state: VmState,
    pub pending: Option<Pending>,
    /// Where the scheduler placed it (`None`: no valid host).
    pub host: Option<String>,
    pub requested_az: Option<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: IndexMap<String, String>,
    pub tags: BTreeSet<String>,
    pub description: Option<String>,
    pub lock: Option<Lock>,
    pub security_groups: Vec<String>,
    pub access_ipv4: String,
    pub access_ipv6: String,
    pub config_drive: bool,
    pub reservation_id: String,
    pub launch_index: u32,
    pub hostname: String,
    pub fault: Option<Fault>,
    pub disk: Disk,
    pub volumes: Vec<Attachment>,
    pub actions: Vec<Action>,
    pub group: Option<String>,
    pub scheduler_hints: Map<String, Value>,
    pub resources: Resources,
}

impl Server {
    /// Applies a finished task: the server reaches the vm state the task leads to.
    fn settle(&mut self, now: DateTime<Utc>) {
        let Some(p) = self.pending else { return };
        if now < p.ends || p.task == Task::Delete {
            return;
        }
        self.pending = None;
        self.vm_state = p.then;
        self.updated = p.ends;
        if p.task == Task::Build && p.then == VmState::Active {
            self.launched_at = Some(p.ends);
        }
    }

    /// The `task_state` now (`None` when idle).
    pub fn task_state(&self, now: DateTime<Utc>) -> Option<&'static str> {
        let p = self.pending.as_ref()?;
        let total = (p.ends - p.started).num_milliseconds().max(1) as f64;
        let done = (now - p.started).num_milliseconds() as f64;
        Some(p.task.state_at((done / total).clamp(0.0, 1.0)))
    }

    /// True while the scheduler has not picked a host (the views hide it).
    pub fn scheduling(&self, now: DateTime<Utc>) -> bool {
        self.task_state(now) == Some("scheduling")
    }

    /// Nova's `status`, from vm_state and task_state.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        let task = self.task_state(now);
        match (self.vm_state, task) {
            (VmState::Deleted, _) => "DELETED",
            (_, Some("rebuilding" | "rebuild_spawning")) => "REBUILD",
            (VmState::Active, Some("rebooting")) => "REBOOT",
            (VmState::Active, Some("rebooting_hard")) => "HARD_REBOOT",
            (VmState::Building, _) => "BUILD",
            (VmState::Active, _) => "ACTIVE",
            (VmState::Stopped, _) => "SHUTOFF",
            (VmState::Paused, _) => "PAUSED",
            (VmState::Suspended, _) => "SUSPENDED",
            (VmState::Error, _) => "ERROR",
        }
    }

    /// The power state now: the old one until the task ends.
    pub fn power_state(&self) -> u8 {
        self.vm_state.power_state()
    }

    /// Starts a task lasting `delay`, ending in `then` (see [`Servers::begin`]).
    fn begin(&mut self, task: Task, now: DateTime<Utc>, delay: Duration, then: VmState) {
        self.pending = Some(Pending {
            task,
            started: now,
            ends: now + delay,
            then,
        });
        self.updated = now;
    }

    /// Records an instance action.
    pub fn record(
        &mut self,
        action: &'static str,
        event: &'static str,
        user_id: &str,
        now: DateTime<Utc>,
        finish: DateTime<Utc>,
    ) {
        self.actions.push(Action {
            action,
            request_id: format!("req-{}", uuid::Uuid::new_v4()),
            user_id: user_id.to_string(),
            project_id: self.project_id.clone(),
            start: now,
            finish,
            event,
            host: self.host.clone(),
            failed: None,
        });
    }
}

/// The servers of a site: live ones by ID with their creation order (globally and per
/// project), deleted ones kept for `changes-since`, and per-project usage.
#[derive(Debug, Default)]
pub struct Servers {
    live: HashMap<String, Server>,
    order: BTreeMap<u64, String>,
    by_project: HashMap<String, BTreeMap<u64, String>>,
    deleted: BTreeMap<u64, Server>,
    usage: HashMap<String, Usage>,
    /// When each task under way ends: (time, seq) → server ID.
    due: BTreeMap<(DateTime<Utc>, u64), String>,
    last_seq: u64,
}

impl Servers {
    /// The next creation sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    pub fn get(&self, id: &str) -> Option<&Server> {
        self.live.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Server> {
        self.live.get_mut(id)
    }

    /// Adds a server and counts its usage.
    pub fn insert(&mut self, s: Server) {
        let u = self.usage.entry(s.project_id.clone()).or_default();
        u.instances += 1;
        u.cores += s.flavor.vcpus as i64;
        u.ram += s.flavor.ram as i64;
        self.order.insert(s.seq, s.id.clone());
        self.by_project
            .entry(s.project_id.clone())
            .or_default()
            .insert(s.seq, s.id.clone());
        self.live.insert(s.id.clone(), s);
    }

    /// What a project's servers use.
    pub fn usage(&self, project_id: &str) -> Usage {
        self.usage.get(project_id).copied().unwrap_or_default()
    }

    /// Starts a task on a server and schedules its end.
    pub fn begin(
        &mut self,
        id: &str,
        task: Task,
        now: DateTime<Utc>,
        delay: Duration,
        then: VmState,
    ) {
        if let Some(s) = self.live.get_mut(id) {
            s.begin(task, now, delay, then);
            self.due.insert((now + delay, s.seq), id.to_string());
        }
    }

    /// Applies the tasks that have ended by `now`. Deleted servers leave the live set (a light
    /// copy stays for `changes-since`) and are returned for cleanup.
    pub fn settle_due(&mut self, now: DateTime<Utc>) -> Vec<Server> {
        let mut gone = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), id) = entry.remove_entry();
            let Some(p) = self.live.get(&id).and_then(|s| s.pending) else {
                continue;
            };
            if p.ends != at {
                continue;
            }
            if p.task == Task::Delete {
                if let Some(s) = self.remove(&id) {
                    self.deleted.insert(s.seq, tombstone(&s, at));
                    gone.push(s);
                }
            } else if let Some(s) = self.live.get_mut(&id) {
                s.settle(now);
            }
        }
        gone
    }

    /// Removes a server without a trace (a create that failed half way).
    pub fn discard(&mut self, id: &str) -> Option<Server> {
        self.remove(id)
    }

    fn remove(&mut self, id: &str) -> Option<Server> {
        let s = self.live.remove(id)?;
        self.order.remove(&s.seq);
        if let Some(p) = self.by_project.get_mut(&s.project_id) {
            p.remove(&s.seq);
        }
        if let Some(u) = self.usage.get_mut(&s.project_id) {
            u.instances -= 1;
            u.cores -= s.flavor.vcpus as i64;
            u.ram -= s.flavor.ram as i64;
        }
        Some(s)
    }

    /// Live server IDs newest first, all or one project's, starting after `after` (a seq).
    pub fn ids_newest_first<'a>(
        &'a self,
        project: Option<&str>,
        after: Option<u64>,
    ) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        let index = match project {
            Some(p) => match self.by_project.get(p) {
                Some(i) => i,
                None => return Box::new(std::iter::empty()),
            },
            None => &self.order,
        };
        match after {
            Some(seq) => Box::new(index.range(..seq).rev().map(|(_, id)| id)),
            None => Box::new(index.values().rev()),
        }
    }

    /// Deleted servers (light copies), any order.
    pub fn deleted(&self) -> impl Iterator<Item = &Server> {
        self.deleted.values()
    }
}

/// What is kept of a deleted server: its identity and final state, not its data.
fn tombstone(s: &Server, at: DateTime<Utc>) -> Server {
    let mut t = s.clone();
    t.vm_state = VmState::Deleted;
    t.pending = None;
    t.updated = at;
    t.terminated_at = Some(at);
    t.metadata.clear();
    t.tags.clear();
    t.user_data = None;
    t.disk = Disk::default();
    t.volumes.clear();
    t.actions.clear();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_is_copied_only_when_shared() {
        let image = Bytes::from_static(b"abcdef");
        let mut d = Disk::new(image.clone());
        d.write(4, b"XYZ").unwrap();
        assert_eq!(&d.bytes()[..], b"abcdXYZ");
        assert_eq!(&image[..], b"abcdef");
        d.write(0, b"1").unwrap();
        assert_eq!(&d.bytes()[..], b"1bcdXYZ");
        assert!(d.write(u64::MAX, b"x").is_err());
    }
}
