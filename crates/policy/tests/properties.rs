//! Property tests: printing and parsing round-trip, the parser never
//! panics, and evaluation is deterministic and independent of the order of
//! the rule array.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_policy::expr::{BinaryOp, Expr, ExprKind, Func, Literal, parse};
use devicetrust_policy::{Context, PolicyDocument};
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{Value, json};

// ---- expressions ----------------------------------------------------------

fn leaf() -> impl Strategy<Value = Expr> {
    let number = prop_oneof![
        (-1.0e9..1.0e9f64),
        any::<i32>().prop_map(f64::from),
        Just(0.5),
        Just(-0.0)
    ];
    let segment = "[a-z][a-zA-Z0-9_]{0,6}";
    let path = (
        prop::sample::select(vec!["user", "device", "risk"]),
        prop::collection::vec(segment, 1..4),
    )
        .prop_map(|(root, rest)| {
            let mut segments = vec![root.to_owned()];
            segments.extend(rest);
            ExprKind::Path(segments)
        });
    prop_oneof![
        Just(ExprKind::Literal(Literal::Null)),
        any::<bool>().prop_map(|b| ExprKind::Literal(Literal::Bool(b))),
        number.prop_map(|n| ExprKind::Literal(Literal::Number(n))),
        "(\\PC|[\"'\\\\\n\t\r]){0,8}".prop_map(|s| ExprKind::Literal(Literal::String(s))),
        path,
    ]
    .prop_map(Expr::new)
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let call = prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (Func::StringContains, vec![a, b])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (Func::StartsWith, vec![a, b])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (Func::ArraysContains, vec![a, b])),
            inner.clone().prop_map(|a| (Func::ArraysSize, vec![a])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (Func::Contains, vec![a, b])),
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(|args| (Func::IsMemberOfAnyGroup, args)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (Func::VersionLessThan, vec![a, b])),
        ];
        prop_oneof![
            inner.clone().prop_map(|e| ExprKind::Not(Box::new(e))),
            (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r)
            }),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, o)| {
                ExprKind::Conditional {
                    cond: Box::new(c),
                    then: Box::new(t),
                    otherwise: Box::new(o),
                }
            }),
            prop::collection::vec(inner.clone(), 0..3).prop_map(ExprKind::List),
            call.prop_map(|(func, args)| ExprKind::Call { func, args }),
        ]
        .prop_map(Expr::new)
    })
}

proptest! {
    #[test]
    fn print_then_parse_round_trips(e in expr()) {
        let printed = e.to_string();
        let parsed = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed}: {err}")))?;
        prop_assert_eq!(&parsed, &e, "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn parser_never_panics_on_any_text(s in "\\PC{0,64}") {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_token_soup(parts in prop::collection::vec(prop::sample::select(vec![
        "(", ")", "{", "}", ",", ".", "?", ":", "!", "-", "&&", "||", "==", "!=", "<", "<=", ">", ">=",
        "AND", "OR", "true", "null", "1", "2.5", "'s'", "\"", "user", "profile", "contains", "String",
        "stringContains", "Arrays", "size", "isMemberOf", "versionLessThan", " ", "\n",
    ]), 0..40)) {
        let _ = parse(&parts.concat());
    }
}

// ---- documents ------------------------------------------------------------

const EXPRESSIONS: &[&str] = &[
    "device.provider.wsc.antiVirus == 'GOOD' && device.provider.wsc.fireWall == 'GOOD'",
    "user.isMemberOf('g2') || device.profile.secureHardwarePresent == true",
    "!(device.provider.wsc.fireWall == 'SNOOZE')",
    "device.provider.oktaVerify.version.versionGreaterThan('9.40')",
];

fn rule() -> impl Strategy<Value = Value> {
    (
        subsequence(vec!["g1", "g2", "g3"], 0..3),
        prop::option::of((any::<bool>(), prop::option::of(any::<bool>()))),
        prop::option::of(prop::sample::select(vec!["WINDOWS", "MACOS", "IOS", "ANY"])),
        prop::option::of(prop::sample::select(vec!["include", "exclude"])),
        prop::option::of(prop::sample::select(vec!["LOW", "MEDIUM", "HIGH", "ANY"])),
        prop::option::of(prop::sample::select(EXPRESSIONS.to_vec())),
        subsequence(vec!["daewin", "daemac"], 0..2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(groups, device, platform, zone, risk, el, assurance, active, allow)| {
                let mut conditions = serde_json::Map::new();
                if !groups.is_empty() {
                    conditions.insert("people".into(), json!({"groups": {"include": groups}}));
                }
                let mut dev = serde_json::Map::new();
                if let Some((registered, managed)) = device {
                    dev.insert("registered".into(), json!(registered));
                    if registered && let Some(m) = managed {
                        dev.insert("managed".into(), json!(m));
                    }
                }
                if !assurance.is_empty() {
                    dev.insert("assurance".into(), json!({"include": assurance}));
                }
                if !dev.is_empty() {
                    conditions.insert("device".into(), Value::Object(dev));
                }
                if let Some(os) = platform {
                    conditions.insert(
                        "platform".into(),
                        json!({"include": [{"type": "ANY", "os": {"type": os}}]}),
                    );
                }
                if let Some(which) = zone {
                    conditions.insert(
                        "network".into(),
                        json!({"connection": "ZONE", which: ["nzo4", "nzo6"]}),
                    );
                }
                if let Some(level) = risk {
                    conditions.insert("riskScore".into(), json!({"level": level}));
                }
                if let Some(el) = el {
                    conditions.insert("elCondition".into(), json!({"condition": el}));
                }
                json!({
                    "name": "r",
                    "status": if active { "ACTIVE" } else { "INACTIVE" },
                    "conditions": conditions,
                    "actions": {"appSignOn": {"access": if allow { "ALLOW" } else { "DENY" }}}
                })
            },
        )
}

fn document() -> impl Strategy<Value = (Value, Value)> {
    documents(1..8)
}

fn documents(size: std::ops::Range<usize>) -> impl Strategy<Value = (Value, Value)> {
    prop::collection::vec(rule(), size)
        .prop_flat_map(|rules| {
            let n = rules.len();
            let priorities =
                Just((0..n as u32).map(|p| p * 3 + 1).collect::<Vec<_>>()).prop_shuffle();
            (Just(rules), priorities)
        })
        .prop_map(|(rules, priorities)| {
            rules
                .into_iter()
                .zip(priorities)
                .enumerate()
                .map(|(i, (mut r, p))| {
                    r["id"] = json!(format!("rul{i}"));
                    r["priority"] = json!(p);
                    r
                })
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|rules| (Just(rules.clone()), Just(rules).prop_shuffle()))
        .prop_map(|(rules, shuffled)| (wrap(rules), wrap(shuffled)))
}

fn wrap(rules: Vec<Value>) -> Value {
    json!({
        "policy": {"id": "rst1", "name": "P", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": rules,
        "zones": [
            {"id": "nzo4", "name": "v4", "type": "IP", "status": "ACTIVE",
             "gateways": [{"type": "CIDR", "value": "192.0.2.0/25"}]},
            {"id": "nzo6", "name": "v6", "type": "IP", "status": "ACTIVE",
             "gateways": [{"type": "RANGE", "value": "2001:db8::1-2001:db8::ff"}]}
        ],
        "deviceAssurances": [
            {"id": "daewin", "name": "Windows 10", "platform": "WINDOWS", "osVersion": {"minimum": "10.0.19045"}},
            {"id": "daemac", "name": "macOS 14.2", "platform": "MACOS", "osVersion": {"minimum": "14.2"},
             "diskEncryptionType": {"include": ["ALL_INTERNAL_VOLUMES"]}}
        ]
    })
}

fn context() -> impl Strategy<Value = Context> {
    (
        subsequence(vec!["g1", "g2", "g3"], 0..3),
        prop::option::of((any::<bool>(), any::<bool>(), prop::sample::select(vec!["WINDOWS", "MACOS", "IOS"]))),
        prop::sample::select(vec!["10.0.19044", "10.0.22631", "14.10", "14.1", "17.4"]),
        prop::option::of(prop::sample::select(vec!["192.0.2.9", "192.0.2.200", "2001:db8::7", "198.51.100.1"])),
        prop::option::of(prop::sample::select(vec!["LOW", "MEDIUM", "HIGH"])),
        prop::option::of((
            prop::sample::select(vec!["GOOD", "POOR", "SNOOZE"]),
            prop::sample::select(vec!["GOOD", "SNOOZE"]),
        )),
    )
        .prop_map(|(groups, device, os_version, ip, risk, wsc)| {
            let mut ctx = json!({"user": {"id": "00u1", "groups": groups}, "network": {}, "risk": {}});
            if let Some((registered, managed, platform)) = device {
                let mut d = json!({"registered": registered, "managed": registered && managed, "platform": platform,
                                   "profile": {"osVersion": os_version, "diskEncryptionType": "ALL_INTERNAL_VOLUMES"}});
                if let Some((av, fw)) = wsc {
                    d["provider"] = json!({"wsc": {"antiVirus": av, "fireWall": fw}, "oktaVerify": {"version": "9.43.1"}});
                }
                ctx["device"] = d;
            }
            if let Some(ip) = ip {
                ctx["network"]["ip"] = json!(ip);
            }
            if let Some(level) = risk {
                ctx["risk"]["level"] = json!(level);
            }
            serde_json::from_value(ctx).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn evaluation_is_deterministic_and_ignores_rule_array_order(
        (doc, shuffled) in document(),
        contexts in prop::collection::vec(context(), 1..6),
    ) {
        let a = PolicyDocument::from_json(&doc.to_string()).unwrap().compile().unwrap();
        let b = PolicyDocument::from_json(&shuffled.to_string()).unwrap().compile().unwrap();
        for ctx in &contexts {
            let first = a.evaluate(ctx);
            prop_assert_eq!(&first, &a.evaluate(ctx));
            prop_assert_eq!(&first, &b.evaluate(ctx));
            let verdict = a.decide(ctx);
            prop_assert_eq!(verdict.access, first.access);
            prop_assert_eq!(verdict.rule.map(|r| r.id.clone()), first.rule.map(|r| r.id));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn indexed_plan_decides_as_a_naive_scan(
        (doc, _) in documents(20..120),
        contexts in prop::collection::vec(context(), 1..8),
    ) {
        let policy = PolicyDocument::from_json(&doc.to_string()).unwrap().compile().unwrap();
        for ctx in &contexts {
            let planned = policy.decide(ctx);
            let naive = policy.decide_naive(ctx);
            prop_assert_eq!(planned.access, naive.access);
            prop_assert_eq!(planned.rule.map(|r| &r.id), naive.rule.map(|r| &r.id));
        }
    }
}
