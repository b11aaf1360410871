//! Validation and compilation of a document into what evaluation needs.
//!
//! Every reference is resolved to an index, every zone to address blocks,
//! every version and expression parsed, once. Evaluation then neither
//! allocates for lookups nor meets an error.

use std::collections::{BTreeMap, BTreeSet};

use crate::document::PolicyDocument;
use crate::error::LoadError;
use crate::expr::{CompiledExpr, Schema, compile};
use crate::index::Plan;
use crate::model::{
    Connection, DeviceAssurance, IncludeExclude, NetworkZone, PlatformCondition, PolicyRule,
    RiskLevel, Status,
};
use crate::net::IpBlock;
use crate::version::Version;

/// A zone with its gateways parsed.
#[derive(Debug, Clone)]
pub(crate) struct CompiledZone {
    pub(crate) zone: NetworkZone,
    pub(crate) blocks: Vec<IpBlock>,
}

impl CompiledZone {
    /// Whether `ip` is in the zone; an inactive zone holds nothing.
    pub(crate) fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.zone.status == Status::Active && self.blocks.iter().any(|b| b.contains(ip))
    }
}

/// A device assurance policy with its minimum version parsed.
#[derive(Debug, Clone)]
pub(crate) struct CompiledAssurance {
    pub(crate) assurance: DeviceAssurance,
    pub(crate) minimum: Option<Version>,
}

/// Include and exclude lists as sets: a user in many groups against a rule
/// listing many groups costs a logarithmic lookup per group, not a scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct IdFilter {
    pub(crate) include: BTreeSet<String>,
    pub(crate) exclude: BTreeSet<String>,
}

impl From<&IncludeExclude> for IdFilter {
    fn from(list: &IncludeExclude) -> IdFilter {
        IdFilter {
            include: list.include.iter().cloned().collect(),
            exclude: list.exclude.iter().cloned().collect(),
        }
    }
}

/// One condition of a rule, resolved.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Users(IdFilter),
    Groups(IdFilter),
    UserType(IdFilter),
    Registered(bool),
    Managed(bool),
    /// Indices into the assurance list, sorted; any one suffices.
    Assurance(Vec<usize>),
    Platform(PlatformCondition),
    /// Indices into the zone list, sorted.
    Network {
        include: Vec<usize>,
        exclude: Vec<usize>,
    },
    Risk(RiskLevel),
    Expression(Box<CompiledExpr>),
}

impl Condition {
    /// The condition's name in explanations, after Okta's JSON paths.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Condition::Users(_) => "people.users",
            Condition::Groups(_) => "people.groups",
            Condition::UserType(_) => "userType",
            Condition::Registered(_) => "device.registered",
            Condition::Managed(_) => "device.managed",
            Condition::Assurance(_) => "device.assurance",
            Condition::Platform(_) => "platform",
            Condition::Network { .. } => "network",
            Condition::Risk(_) => "riskScore",
            Condition::Expression(_) => "elCondition",
        }
    }
}

/// An active rule, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    /// Position in the document's rule array, for JSON paths.
    pub(crate) index: usize,
    pub(crate) rule: PolicyRule,
    pub(crate) conditions: Vec<Condition>,
    /// What each condition asks for, as the explanation shows it.
    pub(crate) expected: Vec<serde_json::Value>,
}

/// A validated document, compiled for evaluation.
///
/// Build one with [`PolicyDocument::compile`].
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(crate) document: PolicyDocument,
    /// Active rules in ascending priority.
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) zones: Vec<CompiledZone>,
    pub(crate) assurances: Vec<CompiledAssurance>,
    /// Indexes that narrow the rules worth checking for a context.
    pub(crate) plan: Plan,
}

impl CompiledPolicy {
    /// The document as loaded.
    #[must_use]
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    pub(crate) fn new(
        document: PolicyDocument,
        schema: &dyn Schema,
    ) -> Result<CompiledPolicy, LoadError> {
        let zones = compile_zones(&document)?;
        let assurances = compile_assurances(&document)?;
        let zone_ids: BTreeMap<&str, usize> = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.zone.id.as_str(), i))
            .collect();
        let assurance_ids: BTreeMap<&str, usize> = assurances
            .iter()
            .enumerate()
            .map(|(i, a)| (a.assurance.id.as_str(), i))
            .collect();
        let refs = Refs {
            zones: &zone_ids,
            assurances: &assurance_ids,
            schema,
        };

        let mut priorities: BTreeMap<u32, &str> = BTreeMap::new();
        let mut ids = BTreeSet::new();
        let mut rules = Vec::new();
        for (i, rule) in document.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            if !ids.insert(rule.id.as_str()) {
                return Err(LoadError::DuplicateId {
                    id: rule.id.clone(),
                    path: format!("{path}.id"),
                });
            }
            if let Some(first) = priorities.insert(rule.priority, &rule.id) {
                return Err(LoadError::DuplicatePriority {
                    priority: rule.priority,
                    path: format!("{path}.priority"),
                    first: first.to_owned(),
                    second: rule.id.clone(),
                });
            }
            // Inactive rules are validated too: activating one must not
            // be what reveals that it was broken.
            let conditions = refs.conditions(rule, &path)?;
            if rule.status == Status::Active {
                rules.push(CompiledRule {
                    index: i,
                    rule: rule.clone(),
                    conditions,
                    expected: Vec::new(),
                });
            }
        }
        // Okta evaluates by priority, not by position in the list.
        rules.sort_by_key(|r| r.rule.priority);
        let plan = Plan::new(&rules, &zones);
        let mut policy = CompiledPolicy {
            document,
            rules,
            zones,
            assurances,
            plan,
        };
        let expected: Vec<Vec<serde_json::Value>> = policy
            .rules
            .iter()
            .map(|r| r.conditions.iter().map(|c| policy.expected(c)).collect())
            .collect();
        for (rule, expected) in policy.rules.iter_mut().zip(expected) {
            rule.expected = expected;
        }
        Ok(policy)
    }
}

fn compile_zones(document: &PolicyDocument) -> Result<Vec<CompiledZone>, LoadError> {
    let mut ids = BTreeSet::new();
    let mut zones = Vec::with_capacity(document.zones.len());
    for (i, zone) in document.zones.iter().enumerate() {
        if !ids.insert(zone.id.as_str()) {
            return Err(LoadError::DuplicateId {
                id: zone.id.clone(),
                path: format!("zones[{i}].id"),
            });
        }
        let mut blocks = Vec::with_capacity(zone.gateways.len());
        for (j, gateway) in zone.gateways.iter().enumerate() {
            let parsed = match gateway.gateway_type {
                crate::model::GatewayType::Cidr => IpBlock::parse_cidr(&gateway.value),
                crate::model::GatewayType::Range => IpBlock::parse_range(&gateway.value),
            };
            let block = parsed.map_err(|reason| LoadError::InvalidGateway {
                path: format!("zones[{i}].gateways[{j}].value"),
                value: gateway.value.clone(),
                reason,
            })?;
            blocks.push(block);
        }
        zones.push(CompiledZone {
            zone: zone.clone(),
            blocks,
        });
    }
    Ok(zones)
}

fn compile_assurances(document: &PolicyDocument) -> Result<Vec<CompiledAssurance>, LoadError> {
    let mut ids = BTreeSet::new();
    let mut out = Vec::with_capacity(document.device_assurances.len());
    for (i, assurance) in document.device_assurances.iter().enumerate() {
        if assurance.id.is_empty() {
            return Err(LoadError::MissingId {
                path: format!("deviceAssurances[{i}].id"),
            });
        }
        if !ids.insert(assurance.id.as_str()) {
            return Err(LoadError::DuplicateId {
                id: assurance.id.clone(),
                path: format!("deviceAssurances[{i}].id"),
            });
        }
        let minimum = match assurance
            .os_version
            .as_ref()
            .and_then(|v| v.minimum.as_deref())
        {
            None => None,
            Some(text) => Some(
                Version::parse(text).ok_or_else(|| LoadError::InvalidVersion {
                    path: format!("deviceAssurances[{i}].osVersion.minimum"),
                    value: text.to_owned(),
                })?,
            ),
        };
        out.push(CompiledAssurance {
            assurance: assurance.clone(),
            minimum,
        });
    }
    Ok(out)
}

/// Sorts and deduplicates indices, so that set operations on them (in the
/// lints) are binary searches, whatever a document repeats.
fn sorted(mut indices: Vec<usize>) -> Vec<usize> {
    indices.sort_unstable();
    indices.dedup();
    indices
}

struct Refs<'a> {
    zones: &'a BTreeMap<&'a str, usize>,
    assurances: &'a BTreeMap<&'a str, usize>,
    schema: &'a dyn Schema,
}

impl Refs<'_> {
    fn conditions(&self, rule: &PolicyRule, path: &str) -> Result<Vec<Condition>, LoadError> {
        let mut out = Vec::new();
        let Some(c) = &rule.conditions else {
            return Ok(out);
        };
        let path = format!("{path}.conditions");
        let constrains = |ie: &IncludeExclude| !ie.include.is_empty() || !ie.exclude.is_empty();
        if let Some(people) = &c.people {
            if let Some(users) = people.users.as_ref().filter(|u| constrains(u)) {
                out.push(Condition::Users(IdFilter::from(users)));
            }
            if let Some(groups) = people.groups.as_ref().filter(|g| constrains(g)) {
                out.push(Condition::Groups(IdFilter::from(groups)));
            }
        }
        if let Some(user_type) = c.user_type.as_ref().filter(|u| constrains(u)) {
            out.push(Condition::UserType(IdFilter::from(user_type)));
        }
        if let Some(device) = &c.device {
            if device.managed.is_some() && device.registered != Some(true) {
                return Err(LoadError::ManagedWithoutRegistered {
                    path: format!("{path}.device"),
                });
            }
            if let Some(registered) = device.registered {
                out.push(Condition::Registered(registered));
            }
            if let Some(managed) = device.managed {
                out.push(Condition::Managed(managed));
            }
            if let Some(assurance) = device.assurance.as_ref().filter(|a| !a.include.is_empty()) {
                let indices = assurance
                    .include
                    .iter()
                    .enumerate()
                    .map(|(j, id)| {
                        self.assurances.get(id.as_str()).copied().ok_or_else(|| {
                            LoadError::UnknownReference {
                                kind: "device assurance",
                                id: id.clone(),
                                path: format!("{path}.device.assurance.include[{j}]"),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Condition::Assurance(sorted(indices)));
            }
        }
        if let Some(platform) = c
            .platform
            .as_ref()
            .filter(|p| !p.include.is_empty() || !p.exclude.is_empty())
        {
            out.push(Condition::Platform(platform.clone()));
        }
        if let Some(network) = &c.network {
            let lists_empty = network.include.is_empty() && network.exclude.is_empty();
            match (network.connection, lists_empty) {
                (Connection::Anywhere, true) => {}
                (Connection::Anywhere, false) => {
                    return Err(LoadError::InvalidCondition {
                        path: format!("{path}.network"),
                        reason: "connection ANYWHERE takes no include or exclude",
                    });
                }
                (Connection::Zone, true) => {
                    return Err(LoadError::InvalidCondition {
                        path: format!("{path}.network"),
                        reason: "connection ZONE needs include or exclude",
                    });
                }
                (Connection::Zone, false) => {
                    let resolve = |list: &[String], which: &str| {
                        list.iter()
                            .enumerate()
                            .map(|(j, id)| {
                                self.zones.get(id.as_str()).copied().ok_or_else(|| {
                                    LoadError::UnknownReference {
                                        kind: "network zone",
                                        id: id.clone(),
                                        path: format!("{path}.network.{which}[{j}]"),
                                    }
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    };
                    out.push(Condition::Network {
                        include: sorted(resolve(&network.include, "include")?),
                        exclude: sorted(resolve(&network.exclude, "exclude")?),
                    });
                }
            }
        }
        if let Some(risk) = c.risk_score.filter(|r| r.level != RiskLevel::Any) {
            out.push(Condition::Risk(risk.level));
        }
        if let Some(el) = &c.el_condition {
            let compiled =
                compile(&el.condition, self.schema).map_err(|source| LoadError::Expression {
                    path: format!("{path}.elCondition.condition"),
                    source: Box::new(source),
                })?;
            out.push(Condition::Expression(Box::new(compiled)));
        }
        Ok(out)
    }
}
