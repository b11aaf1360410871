//! Policy evaluation figures: a 10-rule document with one custom
//! expression and a 1,000-rule document, with the context prebuilt and
//! with the context parsed from JSON in each iteration, beside equivalent
//! Cedar policy sets evaluated by Cedar's authorizer.
//!
//! Each rule `i` allows users of group `g{i}` on a registered Windows or
//! macOS device; the last is a catch-all deny. The context's user belongs
//! to the group of the second-to-last rule, so first-match evaluation has
//! to pass over nearly every rule, as Cedar always does.

use std::hint::black_box;
use std::str::FromStr;

use cedar_policy::{Authorizer, Context as CedarContext, Entities, EntityUid, PolicySet, Request};
use criterion::{Criterion, criterion_group, criterion_main};
use devicetrust_policy::model::Access;
use devicetrust_policy::{CompiledPolicy, Context, PolicyDocument};
use serde_json::{Value, json};

/// The rule that carries the custom expression.
const EXPRESSION_RULE: usize = 3;
const EXPRESSION: &str =
    "device.provider.wsc.antiVirus == 'GOOD' && device.provider.wsc.fireWall == 'GOOD'";

fn platform(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "WINDOWS"
    } else {
        "MACOS"
    }
}

#[expect(
    clippy::indexing_slicing,
    reason = "indexes a JSON object just built, which cannot fail"
)]
fn document(rules: usize) -> Value {
    let mut out: Vec<Value> = (0..rules - 1)
        .map(|i| {
            let mut conditions = json!({
                "people": {"groups": {"include": [format!("g{i}")]}},
                "device": {"registered": true},
                "platform": {"include": [{"type": "DESKTOP", "os": {"type": platform(i)}}]}
            });
            if i == EXPRESSION_RULE {
                conditions["elCondition"] = json!({"condition": EXPRESSION});
            }
            json!({"id": format!("rul{i}"), "name": format!("rule {i}"), "priority": i, "status": "ACTIVE",
                   "conditions": conditions,
                   "actions": {"appSignOn": {"access": "ALLOW",
                     "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}}})
        })
        .collect();
    out.push(json!({"id": "rulcatchall", "name": "Catch-all Rule", "priority": 10_000, "status": "ACTIVE",
                    "system": true, "actions": {"appSignOn": {"access": "DENY"}}}));
    json!({"policy": {"id": "rst", "name": "bench", "type": "ACCESS_POLICY", "status": "ACTIVE"}, "rules": out})
}

fn cedar_policies(rules: usize) -> String {
    (0..rules - 1)
        .map(|i| {
            let expression = if i == EXPRESSION_RULE {
                " && context.device.provider.wsc.antiVirus == \"GOOD\" && context.device.provider.wsc.fireWall == \"GOOD\""
            } else {
                ""
            };
            format!(
                "@id(\"rul{i}\") permit(principal, action, resource) when {{ context.user.groups.contains(\"g{i}\") \
                 && context.device.registered && context.device.platform == \"{}\"{expression} }};\n",
                platform(i)
            )
        })
        .collect()
}

fn context_json(rules: usize) -> String {
    let target = rules - 2;
    json!({
        "user": {"id": "00u1", "groups": ["Everyone", format!("g{target}")]},
        "device": {"registered": true, "managed": false, "platform": platform(target),
                   "profile": {"osVersion": "10.0.22631"},
                   "provider": {"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}}},
        "network": {"ip": "203.0.113.10"},
        "risk": {"level": "LOW"}
    })
    .to_string()
}

#[expect(
    clippy::panic,
    reason = "a bench that cannot set up should stop loudly"
)]
fn cedar_request(context: &str) -> Request {
    let ctx: Value = serde_json::from_str(context).unwrap_or_default();
    let context =
        CedarContext::from_json_value(ctx, None).unwrap_or_else(|e| panic!("cedar context: {e}"));
    let uid = |s: &str| EntityUid::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    Request::new(
        uid("User::\"00u1\""),
        uid("Action::\"signOn\""),
        uid("App::\"app\""),
        context,
        None,
    )
    .unwrap_or_else(|e| panic!("cedar request: {e}"))
}

#[expect(
    clippy::panic,
    reason = "a bench that cannot set up should stop loudly"
)]
fn bench(c: &mut Criterion) {
    for rules in [10, 1_000] {
        let policy: CompiledPolicy = PolicyDocument::from_json(&document(rules).to_string())
            .and_then(|d| d.compile())
            .unwrap_or_else(|e| panic!("policy: {e}"));
        let context_text = context_json(rules);
        let context = Context::from_json(&context_text).unwrap_or_else(|e| panic!("context: {e}"));
        // Both engines must agree before their speed means anything.
        assert_eq!(policy.decide(&context).access, Access::Allow);
        assert_eq!(
            policy.decide(&context).rule.map(|r| r.id.clone()),
            Some(format!("rul{}", rules - 2))
        );

        let cedar: PolicySet = cedar_policies(rules)
            .parse()
            .unwrap_or_else(|e| panic!("cedar policies: {e}"));
        let request = cedar_request(&context_text);
        let entities = Entities::empty();
        let authorizer = Authorizer::new();
        let answer = authorizer.is_authorized(&request, &cedar, &entities);
        assert_eq!(answer.decision(), cedar_policy::Decision::Allow);
        assert!(answer.diagnostics().errors().next().is_none());

        c.bench_function(&format!("devicetrust/{rules}/decide"), |b| {
            b.iter(|| policy.decide(black_box(&context)).access)
        });
        c.bench_function(
            &format!("devicetrust/{rules}/decide-with-context-json"),
            |b| {
                b.iter(|| {
                    let ctx = Context::from_json(black_box(&context_text)).unwrap_or_default();
                    policy.decide(&ctx).access
                })
            },
        );
        c.bench_function(&format!("devicetrust/{rules}/evaluate-explained"), |b| {
            b.iter(|| policy.evaluate(black_box(&context)).access)
        });
        c.bench_function(&format!("cedar/{rules}/is_authorized"), |b| {
            b.iter(|| {
                authorizer
                    .is_authorized(black_box(&request), &cedar, &entities)
                    .decision()
            })
        });
        c.bench_function(
            &format!("cedar/{rules}/is_authorized-with-context-json"),
            |b| {
                b.iter(|| {
                    let request = cedar_request(black_box(&context_text));
                    authorizer
                        .is_authorized(&request, &cedar, &entities)
                        .decision()
                })
            },
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
