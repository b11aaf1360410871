//! An evaluation plan: per-attribute indexes that narrow the rules worth
//! checking before any rule is evaluated.
//!
//! Group, user, platform and zone conditions are the ones that split a
//! large policy by audience. For each, the plan maps a context value to
//! the set of rules that value can satisfy, plus the rules that do not
//! constrain it. A context's candidates are the intersection of those sets,
//! computed with word-wide bit operations; only candidates are then
//! evaluated, in priority order, and the first match decides as before.
//! Each set over-approximates the rules that can match, so the plan never
//! changes a decision: it only skips rules that cannot match.

use std::collections::HashMap;

use crate::compile::{CompiledRule, CompiledZone, Condition};
use crate::conditions::entry_matches;
use crate::context::Context;
use crate::model::OsType;

/// Every operating system, indexed by [`os_slot`].
const OS_TYPES: [OsType; 8] = [
    OsType::Any,
    OsType::Android,
    OsType::Ios,
    OsType::Macos,
    OsType::Windows,
    OsType::Chromeos,
    OsType::Linux,
    OsType::Other,
];

fn os_slot(os: OsType) -> usize {
    match os {
        OsType::Any => 0,
        OsType::Android => 1,
        OsType::Ios => 2,
        OsType::Macos => 3,
        OsType::Windows => 4,
        OsType::Chromeos => 5,
        OsType::Linux => 6,
        OsType::Other => 7,
    }
}

/// A set of rule positions (in priority order) as a bit vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleSet(Vec<u64>);

impl RuleSet {
    fn empty(rules: usize) -> RuleSet {
        RuleSet(vec![0; rules.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    fn union_with(&mut self, other: &RuleSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn intersect_with(&mut self, other: &RuleSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }

    /// The members, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + bit)
            })
        })
    }
}

/// One keyed index: the rules each key can satisfy, and the rules that
/// do not look at this attribute at all.
#[derive(Debug, Clone)]
struct Keyed {
    free: RuleSet,
    by_key: HashMap<String, RuleSet>,
}

impl Keyed {
    fn new(rules: usize) -> Keyed {
        Keyed {
            free: RuleSet::empty(rules),
            by_key: HashMap::new(),
        }
    }

    fn add<'a>(&mut self, rule: usize, keys: impl IntoIterator<Item = &'a String>, rules: usize) {
        for key in keys {
            self.by_key
                .entry(key.clone())
                .or_insert_with(|| RuleSet::empty(rules))
                .insert(rule);
        }
    }

    /// The rules that `keys` can satisfy.
    fn candidates<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> RuleSet {
        let mut set = self.free.clone();
        for key in keys {
            if let Some(rules) = self.by_key.get(key) {
                set.union_with(rules);
            }
        }
        set
    }
}

/// The evaluation plan of a compiled policy.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    groups: Keyed,
    users: Keyed,
    /// For each OS slot, the rules whose platform condition it satisfies.
    by_os: Vec<RuleSet>,
    /// Rules without a platform condition: all a platform-less device can match.
    platform_free: RuleSet,
    /// Rules whose network condition needs no included zone.
    network_free: RuleSet,
    /// For each zone, the rules that include it.
    by_zone: Vec<RuleSet>,
}

impl Plan {
    pub(crate) fn new(rules: &[CompiledRule], zones: &[CompiledZone]) -> Plan {
        let n = rules.len();
        let mut plan = Plan {
            groups: Keyed::new(n),
            users: Keyed::new(n),
            by_os: vec![RuleSet::empty(n); OS_TYPES.len()],
            platform_free: RuleSet::empty(n),
            network_free: RuleSet::empty(n),
            by_zone: vec![RuleSet::empty(n); zones.len()],
        };
        for (i, rule) in rules.iter().enumerate() {
            let (mut groups, mut users, mut platform, mut network) = (false, false, false, false);
            for condition in &rule.conditions {
                match condition {
                    Condition::Groups(ie) if !ie.include.is_empty() => {
                        groups = true;
                        plan.groups.add(i, &ie.include, n);
                    }
                    Condition::Users(ie) if !ie.include.is_empty() => {
                        users = true;
                        plan.users.add(i, &ie.include, n);
                    }
                    Condition::Platform(p) => {
                        platform = true;
                        for (slot, os) in OS_TYPES.iter().enumerate() {
                            let included = p.include.is_empty()
                                || p.include.iter().any(|e| entry_matches(e, *os));
                            let excluded = p.exclude.iter().any(|e| entry_matches(e, *os));
                            if included
                                && !excluded
                                && let Some(set) = plan.by_os.get_mut(slot)
                            {
                                set.insert(i);
                            }
                        }
                    }
                    Condition::Network { include, .. } if !include.is_empty() => {
                        network = true;
                        for &z in include {
                            if let Some(set) = plan.by_zone.get_mut(z) {
                                set.insert(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !groups {
                plan.groups.free.insert(i);
            }
            if !users {
                plan.users.free.insert(i);
            }
            if !platform {
                plan.platform_free.insert(i);
                for set in &mut plan.by_os {
                    set.insert(i);
                }
            }
            if !network {
                plan.network_free.insert(i);
            }
        }
        plan
    }

    /// The rules that can match `ctx`, a superset of those that do.
    pub(crate) fn candidates(&self, ctx: &Context, zones: &[CompiledZone]) -> RuleSet {
        let mut set = self
            .groups
            .candidates(ctx.user.groups.iter().map(String::as_str));
        set.intersect_with(&self.users.candidates(ctx.user.id.as_deref()));
        match ctx.device.as_ref().and_then(|d| d.platform) {
            Some(os) => {
                if let Some(rules) = self.by_os.get(os_slot(os)) {
                    set.intersect_with(rules);
                }
            }
            None => set.intersect_with(&self.platform_free),
        }
        let mut network = self.network_free.clone();
        if let Some(ip) = ctx.network.ip {
            for (zone, rules) in zones.iter().zip(&self.by_zone) {
                if zone.contains(ip) {
                    network.union_with(rules);
                }
            }
        }
        set.intersect_with(&network);
        set
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Context, PolicyDocument};

    #[test]
    fn plan_narrows_a_large_policy_to_the_user_s_rules() {
        let rules: Vec<_> = (0..1000)
            .map(|i| {
                json!({"id": format!("rul{i}"), "name": "r", "priority": i, "status": "ACTIVE",
                       "conditions": {"people": {"groups": {"include": [format!("g{i}")]}}},
                       "actions": {"appSignOn": {"access": "ALLOW"}}})
            })
            .collect();
        let doc = json!({"policy": {"id": "p", "name": "p", "type": "ACCESS_POLICY", "status": "ACTIVE"},
                         "rules": rules});
        let policy = PolicyDocument::from_json(&doc.to_string())
            .unwrap()
            .compile()
            .unwrap();
        let ctx = Context::from_json(r#"{"user": {"groups": ["g700", "nobody"]}}"#).unwrap();
        let candidates: Vec<usize> = policy.plan.candidates(&ctx, &policy.zones).iter().collect();
        assert_eq!(candidates, vec![700]);
        assert_eq!(
            policy.decide(&ctx).rule.map(|r| r.id.as_str()),
            Some("rul700")
        );
    }
}
