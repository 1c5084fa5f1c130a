//! Security groups: the `default` group of each project, groups with Neutron's egress
//! rules, and rules.

use crate::network::model::{Resource, SecurityGroup, SgRule, Std};
use crate::network::{new_id, new_sid, NetworkData, Sid};
use std::collections::BTreeSet;

impl NetworkData {
    /// The `default` security group of a project, created with Neutron's default rules on
    /// first use.
    pub(in crate::network) fn ensure_default_group(&mut self, project: &str) -> Sid {
        if let Some(id) = self.default_groups.get(project) {
            return id.clone();
        }
        let id = self.insert_group(project, "default", "Default security group", true);
        for ethertype in ["IPv4", "IPv6"] {
            self.insert_rule(
                NewRule {
                    ingress: true,
                    ethertype,
                    remote_group_id: Some(id.to_string()),
                }
                .into_rule(project, &id),
            );
        }
        self.settle_group_revision(&id);
        let project = self.name(project);
        self.default_groups.insert(project, id.clone());
        id
    }

    /// Stores a security group with Neutron's two egress rules; returns its ID.
    pub(in crate::network) fn insert_group(
        &mut self,
        project: &str,
        name: &str,
        description: &str,
        stateful: bool,
    ) -> Sid {
        let id = new_sid();
        let project_id = self.name(project);
        self.count(project, Resource::SecurityGroup, true);
        self.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id: id.clone(),
                name: name.to_string(),
                project_id,
                stateful,
                rules: BTreeSet::new(),
                std: Std::new(0, description.to_string()),
            },
        );
        for ethertype in ["IPv4", "IPv6"] {
            self.insert_rule(
                NewRule {
                    ethertype,
                    ..NewRule::default()
                }
                .into_rule(project, &id),
            );
        }
        self.settle_group_revision(&id);
        id
    }

    /// A group and the rules Neutron creates with it are one change: revision 1.
    fn settle_group_revision(&mut self, id: &str) {
        if let Some(g) = self.security_groups.get_mut(id) {
            g.std.revision = 1;
        }
    }

    /// Stores a rule in its group (bumping the group's revision); returns its ID.
    pub(in crate::network) fn insert_rule(&mut self, mut rule: SgRule) -> String {
        rule.standard_attr_id = self.next_attr_id;
        self.next_attr_id += 1;
        let id = rule.id.clone();
        self.count(&rule.project_id, Resource::SecurityGroupRule, true);
        if let Some(g) = self
            .security_groups
            .get_mut(rule.security_group_id.as_str())
        {
            g.rules.insert(id.clone());
            g.std.touch();
        }
        self.rules.insert(id.clone(), rule);
        id
    }

    /// Deletes a rule from its group.
    pub(in crate::network) fn remove_rule(&mut self, rule_id: &str) {
        let Some(r) = self.rules.remove(rule_id) else {
            return;
        };
        self.count(&r.project_id, Resource::SecurityGroupRule, false);
        if let Some(g) = self.security_groups.get_mut(r.security_group_id.as_str()) {
            g.rules.remove(rule_id);
            g.std.touch();
        }
    }

    /// Deletes a security group, its rules and the rules of other groups that name it as
    /// their remote group.
    pub(in crate::network) fn remove_group(&mut self, group_id: &str) {
        let Some(g) = self.security_groups.remove(group_id) else {
            return;
        };
        self.count(&g.project_id, Resource::SecurityGroup, false);
        if self.default_groups.get(&g.project_id).map(|d| &**d) == Some(group_id) {
            self.default_groups.remove(&g.project_id);
        }
        let referring: Vec<String> = self
            .rules
            .values()
            .filter(|r| {
                r.security_group_id == group_id || r.remote_group_id.as_deref() == Some(group_id)
            })
            .map(|r| r.id.clone())
            .collect();
        for id in referring {
            self.remove_rule(&id);
        }
    }

    /// True when `id` is the `default` group of its project.
    pub(in crate::network) fn is_default_group(&self, group: &SecurityGroup) -> bool {
        self.default_groups.get(&group.project_id) == Some(&group.id)
    }
}

/// A rule Neutron creates by itself (no protocol, ports or prefix).
#[derive(Debug, Default)]
pub struct NewRule {
    pub ingress: bool,
    pub ethertype: &'static str,
    pub remote_group_id: Option<String>,
}

impl NewRule {
    fn into_rule(self, project: &str, group_id: &str) -> SgRule {
        SgRule {
            id: new_id(),
            project_id: project.to_string(),
            security_group_id: group_id.to_string(),
            ethertype: self.ethertype.to_string(),
            direction: if self.ingress { "ingress" } else { "egress" }.to_string(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: self.remote_group_id,
            description: None,
            standard_attr_id: 0,
            std: Std::new(0, String::new()),
        }
    }
}
