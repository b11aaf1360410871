//! Whether each kind of condition holds for a context.
//!
//! Each check returns a [`MatchStatus`]: `UNDEFINED` when the context lacks
//! what the condition needs (no client address for a zone condition, no
//! platform for a platform condition), which never matches.

use crate::compile::{CompiledAssurance, CompiledPolicy, Condition, IdFilter};
use crate::context::{Context, DeviceContext};
use crate::decision::MatchStatus;
use crate::env::EvalEnv;
use crate::model::{OsType, PlatformCondition, PlatformEntry, PlatformType};
use crate::version::Version;

impl CompiledPolicy {
    /// The status of one condition.
    pub(crate) fn condition_status(&self, condition: &Condition, env: &EvalEnv<'_>) -> MatchStatus {
        let ctx = env.ctx;
        match condition {
            Condition::Users(ie) => one_of(ie, ctx.user.id.as_deref()),
            Condition::UserType(ie) => one_of(ie, ctx.user.user_type.as_deref()),
            Condition::Groups(ie) => groups(ie, &ctx.user.groups),
            Condition::Registered(wanted) => {
                MatchStatus::from_bool(ctx.device.as_ref().is_some_and(|d| d.registered) == *wanted)
            }
            // Exact: a rule for "not managed" does not match a managed device.
            Condition::Managed(wanted) => {
                MatchStatus::from_bool(ctx.device.as_ref().is_some_and(|d| d.managed) == *wanted)
            }
            Condition::Assurance(indices) => MatchStatus::any(
                indices
                    .iter()
                    .filter_map(|&i| self.assurances.get(i))
                    .map(|a| assurance_checks(a, ctx.device.as_ref()).status()),
            ),
            Condition::Platform(platform) => platform_status(platform, ctx),
            Condition::Network { include, exclude } => {
                let Some(ip) = ctx.network.ip else {
                    return MatchStatus::Undefined;
                };
                let in_zones = |list: &[usize]| {
                    list.iter()
                        .filter_map(|&i| self.zones.get(i))
                        .any(|z| z.contains(ip))
                };
                let included = include.is_empty() || in_zones(include);
                MatchStatus::from_bool(included && !in_zones(exclude))
            }
            Condition::Risk(level) => match ctx.risk.level {
                Some(actual) => MatchStatus::from_bool(actual == *level),
                None => MatchStatus::Undefined,
            },
            Condition::Expression(expr) => match expr.eval(env) {
                Some(b) => MatchStatus::from_bool(b),
                None => MatchStatus::Undefined,
            },
        }
    }
}

/// A single value against include and exclude lists.
fn one_of(ie: &IdFilter, actual: Option<&str>) -> MatchStatus {
    let Some(actual) = actual else {
        return MatchStatus::Undefined;
    };
    let included = ie.include.is_empty() || ie.include.contains(actual);
    let excluded = ie.exclude.contains(actual);
    MatchStatus::from_bool(included && !excluded)
}

/// Group memberships against include and exclude lists.
fn groups(ie: &IdFilter, groups: &[String]) -> MatchStatus {
    let member = |set: &std::collections::BTreeSet<String>| groups.iter().any(|g| set.contains(g));
    let included = ie.include.is_empty() || member(&ie.include);
    MatchStatus::from_bool(included && !member(&ie.exclude))
}

pub(crate) fn entry_matches(entry: &PlatformEntry, os: OsType) -> bool {
    let class_ok =
        entry.platform_type == PlatformType::Any || entry.platform_type == os.platform_type();
    let os_ok = entry
        .os
        .as_ref()
        .is_none_or(|o| o.os_type == OsType::Any || o.os_type == os);
    class_ok && os_ok
}

fn platform_status(platform: &PlatformCondition, ctx: &Context) -> MatchStatus {
    let Some(os) = ctx.device.as_ref().and_then(|d| d.platform) else {
        return MatchStatus::Undefined;
    };
    let included =
        platform.include.is_empty() || platform.include.iter().any(|e| entry_matches(e, os));
    let excluded = platform.exclude.iter().any(|e| entry_matches(e, os));
    MatchStatus::from_bool(included && !excluded)
}

/// One device assurance check's outcome.
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) status: MatchStatus,
    pub(crate) expected: serde_json::Value,
    pub(crate) actual: serde_json::Value,
}

/// The outcome of every check of one assurance policy.
pub(crate) struct AssuranceChecks(pub(crate) Vec<Check>);

impl AssuranceChecks {
    pub(crate) fn status(&self) -> MatchStatus {
        MatchStatus::all(self.0.iter().map(|c| c.status))
    }
}

/// Runs every check of `a` against `device`.
///
/// The platform check comes first and gates the rest: an assurance policy
/// applies only to its own platform, so on another one it does not match.
pub(crate) fn assurance_checks(
    a: &CompiledAssurance,
    device: Option<&DeviceContext>,
) -> AssuranceChecks {
    use serde_json::{Value, json};
    let policy = &a.assurance;
    let platform = device.and_then(|d| d.platform);
    let wanted = policy.platform.os();
    let platform_status = match platform {
        None => MatchStatus::Undefined,
        Some(os) => MatchStatus::from_bool(os == wanted),
    };
    let mut checks = vec![Check {
        name: "platform",
        status: platform_status,
        expected: json!(wanted.as_str()),
        actual: platform.map_or(Value::Null, |p| json!(p.as_str())),
    }];
    if platform_status != MatchStatus::Match {
        return AssuranceChecks(checks);
    }
    let profile = |name: &str| device.and_then(|d| d.profile.get(name));
    if let (Some(minimum), Some(req)) = (&a.minimum, &policy.os_version) {
        let actual = profile("osVersion");
        let status = match actual.and_then(Value::as_str).and_then(Version::parse) {
            Some(v) => MatchStatus::from_bool(v >= *minimum),
            None => MatchStatus::Undefined,
        };
        checks.push(Check {
            name: "osVersion",
            status,
            expected: json!({ "minimum": req.minimum }),
            actual: actual.cloned().unwrap_or(Value::Null),
        });
    }
    for (name, list) in [
        ("diskEncryptionType", &policy.disk_encryption_type),
        ("screenLockType", &policy.screen_lock_type),
    ] {
        let Some(list) = list else { continue };
        let actual = profile(name);
        let status = match actual.and_then(Value::as_str) {
            Some(v) => MatchStatus::from_bool(list.include.iter().any(|i| i == v)),
            None => MatchStatus::Undefined,
        };
        checks.push(Check {
            name,
            status,
            expected: json!({ "include": list.include }),
            actual: actual.cloned().unwrap_or(Value::Null),
        });
    }
    // `secureHardwarePresent: true` requires it; `false` requires nothing.
    // `jailbreak: false` refuses jailbroken devices; `true` accepts any.
    for (name, required, wanted) in [
        (
            "secureHardwarePresent",
            policy.secure_hardware_present == Some(true),
            true,
        ),
        ("jailbreak", policy.jailbreak == Some(false), false),
    ] {
        if !required {
            continue;
        }
        let actual = profile(name);
        let status = match actual.and_then(Value::as_bool) {
            Some(v) => MatchStatus::from_bool(v == wanted),
            None => MatchStatus::Undefined,
        };
        checks.push(Check {
            name,
            status,
            expected: json!(wanted),
            actual: actual.cloned().unwrap_or(Value::Null),
        });
    }
    AssuranceChecks(checks)
}
