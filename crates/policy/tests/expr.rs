//! The expression language through its public API: errors at load with
//! positions, and null-safe evaluation.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use devicetrust_policy::Context;
use devicetrust_policy::expr::{
    DefaultSchema, ExprErrorKind, MAX_DEPTH, MAX_EXPR_BYTES, Type, compile, parse,
};

fn ctx(json: &str) -> Context {
    Context::from_json(json).unwrap()
}

fn eval(src: &str, context: &str) -> Option<bool> {
    let schema = DefaultSchema::new().with_user_attribute("clearance", Type::Number);
    compile(src, &schema).unwrap().evaluate(&ctx(context))
}

#[test]
fn parse_error_has_line_column_and_quote() {
    let err = parse("device.provider.wsc.antiVirus ==").unwrap_err();
    assert_eq!((err.line, err.column), (1, 33));
    assert!(matches!(err.kind, ExprErrorKind::Expected { .. }));
    assert_eq!(
        err.to_string(),
        "line 1, column 33: expected an operand, found end of input, at `end of input`"
    );

    let err =
        parse("user.profile.department == 'Sales'\n  && device.registered = true").unwrap_err();
    assert_eq!((err.line, err.column), (2, 24));
    assert_eq!(err.kind, ExprErrorKind::UnexpectedChar('='));

    let err = parse("String.stringContains(user.profile.email, 'x'").unwrap_err();
    assert!(err.to_string().contains("expected `,` or `)`"), "{err}");

    let err = parse("'unterminated").unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::UnterminatedString);
    assert_eq!(err.excerpt, "'unterminated");
}

#[test]
fn type_errors_are_found_at_load() {
    let schema = DefaultSchema::new();
    let kind = |src: &str| compile(src, &schema).unwrap_err().kind;
    assert_eq!(
        kind("device.provider.wsc.antivirus == 'GOOD'"),
        ExprErrorKind::UnknownAttribute("device.provider.wsc.antivirus".to_owned())
    );
    assert!(matches!(
        kind("device.provider.wsc.fireWall == 'GOD'"),
        ExprErrorKind::NotAnEnumValue { ref value, .. } if value == "GOD"
    ));
    assert!(matches!(
        kind("device.provider.wsc.fireWall == 1"),
        ExprErrorKind::TypeMismatch { .. }
    ));
    assert!(matches!(
        kind("user.profile.department"),
        ExprErrorKind::TypeMismatch { .. }
    ));
    assert!(matches!(
        kind("!user.profile.department"),
        ExprErrorKind::TypeMismatch { .. }
    ));
    assert!(matches!(
        kind("device.registered && 1"),
        ExprErrorKind::TypeMismatch { .. }
    ));
    assert_eq!(
        kind("device.provider.oktaVerify.version.versionGreaterThan('9.x')"),
        ExprErrorKind::BadVersion("9.x".to_owned())
    );
    assert_eq!(
        kind("user.profile.department.toUpper()"),
        ExprErrorKind::UnknownFunction("toUpper".to_owned())
    );
    // The position points at the offending operand.
    let err = compile(
        "device.registered == true &&\n user.profile.nope == 'x'",
        &schema,
    )
    .unwrap_err();
    assert_eq!((err.line, err.column), (2, 2));
    assert_eq!(err.excerpt, "user.profile.nope");
}

#[test]
fn bounds_are_enforced() {
    let long = format!(
        "user.profile.department == '{}'",
        "x".repeat(MAX_EXPR_BYTES)
    );
    assert!(matches!(
        parse(&long).unwrap_err().kind,
        ExprErrorKind::TooLong { .. }
    ));
    let nested = format!(
        "{}true{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        parse(&nested).unwrap_err().kind,
        ExprErrorKind::TooDeep { max: MAX_DEPTH }
    );
    let chain = vec!["true"; MAX_DEPTH + 2].join(" && ");
    assert_eq!(
        parse(&chain).unwrap_err().kind,
        ExprErrorKind::TooDeep { max: MAX_DEPTH }
    );
    let bangs = format!("{}true", "!".repeat(MAX_DEPTH + 1));
    assert_eq!(
        parse(&bangs).unwrap_err().kind,
        ExprErrorKind::TooDeep { max: MAX_DEPTH }
    );
    // Just under the bounds is fine.
    let ok = vec!["true"; MAX_DEPTH / 2].join(" && ");
    assert!(parse(&ok).is_ok());
}

#[test]
fn comparisons_with_absent_values_never_hold() {
    let empty = "{}";
    assert_eq!(eval("device.provider.wsc.antiVirus == 'GOOD'", empty), None);
    assert_eq!(eval("device.provider.wsc.antiVirus != 'GOOD'", empty), None);
    // Negation does not turn a missing signal into a match.
    assert_eq!(
        eval("!(device.provider.wsc.antiVirus == 'POOR')", empty),
        None
    );
    assert_eq!(eval("user.profile.clearance > 3", empty), None);
    // Explicit null tests are the way to ask about absence.
    assert_eq!(
        eval("device.provider.wsc.antiVirus == null", empty),
        Some(true)
    );
    assert_eq!(
        eval("device.provider.wsc.antiVirus != null", empty),
        Some(false)
    );
    // Kleene logic: a false operand decides regardless of the other.
    assert_eq!(
        eval("device.provider.wsc.antiVirus == 'GOOD' && false", empty),
        Some(false)
    );
    assert_eq!(
        eval("device.provider.wsc.antiVirus == 'GOOD' || true", empty),
        Some(true)
    );
}

#[test]
fn evaluates_operators_and_functions() {
    let c = r#"{"user": {"id": "00u1", "groups": ["Everyone", "Engineering"],
                "profile": {"department": "Engineering", "email": "ada@example.com", "clearance": 4}},
               "device": {"registered": true, "managed": false, "platform": "MACOS",
                "profile": {"osVersion": "14.10"},
                "provider": {"oktaVerify": {"version": "9.46.1"}, "wsc": {"antiVirus": "GOOD"}}},
               "risk": {"level": "LOW"}}"#;
    let cases = [
        (
            "user.profile.department == \"Engineering\" AND device.registered",
            true,
        ),
        (
            "user.profile.department == 'Sales' OR device.managed",
            false,
        ),
        (
            "String.stringContains(user.profile.email, '@example.')",
            true,
        ),
        ("String.startsWith(user.profile.email, 'bob')", false),
        ("user.isMemberOf('Engineering')", true),
        ("user.isMemberOfAnyGroup('Admins', 'Finance')", false),
        (
            "Arrays.contains({'MACOS', 'WINDOWS'}, device.profile.platform)",
            true,
        ),
        ("{'IOS', 'ANDROID'}.contains(device.platform)", false),
        ("Arrays.size({1, 2, 3}) == 3", true),
        (
            "user.profile.clearance >= 4 && user.profile.clearance < 5",
            true,
        ),
        (
            "device.provider.oktaVerify.version.versionGreaterThan('9.43')",
            true,
        ),
        (
            "device.provider.oktaVerify.version.versionLessThan('9.5')",
            false,
        ),
        ("device.provider.oktaVerify.version == '9.46.1'", true),
        (
            "risk.level == 'LOW' ? user.profile.clearance > 1 : false",
            true,
        ),
        ("user.profile.email.contains('ada')", true),
        ("-1 < 0 && !(1 > 2)", true),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, c), Some(want), "{src}");
    }
}

#[test]
fn context_values_of_the_wrong_json_type_are_undefined() {
    let c = r#"{"user": {"profile": {"department": 42}}}"#;
    assert_eq!(eval("user.profile.department == 'Engineering'", c), None);
}
