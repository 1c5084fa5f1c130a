//! A table of project-owned records indexed by ID, by creation order, and by project, so
//! lookups are O(1) and a project's newest-first page costs O(log n + page).

use std::collections::{BTreeMap, HashMap};

/// A record owned by a project, numbered in creation order.
pub trait Owned {
    /// Creation sequence number, unique within its table.
    fn seq(&self) -> u64;
    /// The owning project.
    fn project_id(&self) -> &str;
}

/// Records by ID, with creation-order indexes (global and per project).
#[derive(Debug)]
pub struct Table<T> {
    items: HashMap<String, T>,
    order: BTreeMap<u64, String>,
    by_project: HashMap<String, BTreeMap<u64, String>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: HashMap::new(),
            order: BTreeMap::new(),
            by_project: HashMap::new(),
        }
    }
}

impl<T: Owned> Table<T> {
    /// Adds (or replaces) a record.
    pub fn insert(&mut self, id: String, item: T) {
        self.order.insert(item.seq(), id.clone());
        self.by_project
            .entry(item.project_id().to_string())
            .or_default()
            .insert(item.seq(), id.clone());
        self.items.insert(id, item);
    }

    /// Removes a record, returning it.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let item = self.items.remove(id)?;
        self.order.remove(&item.seq());
        if let Some(p) = self.by_project.get_mut(item.project_id()) {
            p.remove(&item.seq());
            if p.is_empty() {
                self.by_project.remove(item.project_id());
            }
        }
        Some(item)
    }

    /// The record `id`.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.items.get(id)
    }

    /// The record `id`, to change it (not its project or sequence number).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.items.get_mut(id)
    }

    /// IDs newest first: a project's records, or all of them with `None`.
    pub fn newest_first<'a>(
        &'a self,
        project: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        match project {
            None => Box::new(self.order.values().rev()),
            Some(p) => match self.by_project.get(p) {
                Some(m) => Box::new(m.values().rev()),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    /// IDs newest first, starting just after (older than) the record numbered `after`.
    pub fn newest_after<'a>(
        &'a self,
        project: Option<&str>,
        after: u64,
    ) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        match project {
            None => Box::new(self.order.range(..after).rev().map(|(_, id)| id)),
            Some(p) => match self.by_project.get(p) {
                Some(m) => Box::new(m.range(..after).rev().map(|(_, id)| id)),
                None => Box::new(std::iter::empty()),
            },
        }
    }
}
