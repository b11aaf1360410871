//! parse(print(x)) == x for the JSON-payload models, over generated
//! payloads that include values the models do not recognise.

use devicetrust_edr::azt::{self, AztSignals};
use devicetrust_edr::dtc::{self, DtcSignals};
use devicetrust_edr::wsc::{self, WscSignals};
use devicetrust_edr::{AttrType, ProviderSignals, SignalValue};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A value for an attribute of type `ty`: usually a valid one, sometimes
/// an unknown string, sometimes null.
fn value_for(ty: AttrType) -> BoxedStrategy<Value> {
    let junk = "[A-Z_]{1,12}".prop_map(Value::from);
    match ty {
        AttrType::Bool => any::<bool>().prop_map(Value::from).boxed(),
        AttrType::Enum(values) => prop_oneof![
            4 => proptest::sample::select(values).prop_map(Value::from),
            1 => junk,
            1 => Just(Value::Null),
        ]
        .boxed(),
        AttrType::EnumList(values) => proptest::collection::vec(
            prop_oneof![4 => proptest::sample::select(values).prop_map(Value::from), 1 => junk],
            0..6,
        )
        .prop_map(Value::from)
        .boxed(),
        _ => "[ -~]{0,40}".prop_map(Value::from).boxed(),
    }
}

/// A payload holding a random subset of `schema`'s attributes.
fn payload(schema: &'static devicetrust_edr::ProviderSchema) -> BoxedStrategy<Value> {
    let fields: Vec<_> = schema
        .attributes
        .iter()
        .map(|a| proptest::option::of(value_for(a.ty)).prop_map(move |v| (a.name, v)))
        .collect();
    fields
        .prop_map(|pairs| {
            let map: Map<String, Value> = pairs
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect();
            Value::Object(map)
        })
        .boxed()
}

/// Where the payload gave a recognised value, the model returns it.
fn keeps_known_values(sent: &Value, model: &dyn ProviderSignals) -> Result<(), TestCaseError> {
    for attr in model.schema().attributes {
        let Some(v) = sent.get(attr.name) else {
            continue;
        };
        let got = model.value(attr.name);
        match (attr.ty, v) {
            (AttrType::Enum(values), Value::String(s)) if values.contains(&s.as_str()) => {
                prop_assert_eq!(got, Some(SignalValue::String(s)));
            }
            (AttrType::Bool, Value::Bool(b)) => prop_assert_eq!(got, Some(SignalValue::Bool(*b))),
            (AttrType::String, Value::String(s)) => {
                prop_assert_eq!(got, Some(SignalValue::String(s)));
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn wsc_round_trip(sent in payload(&wsc::SCHEMA)) {
        let x = WscSignals::parse(sent.to_string().as_bytes()).unwrap();
        keeps_known_values(&sent, &x)?;
        let y = WscSignals::parse(x.to_json().unwrap().as_bytes()).unwrap();
        prop_assert_eq!(x, y);
    }

    #[test]
    fn dtc_round_trip(sent in payload(&dtc::SCHEMA)) {
        let x = DtcSignals::parse(sent.to_string().as_bytes()).unwrap();
        keeps_known_values(&sent, &x)?;
        let y = DtcSignals::parse(x.to_json().unwrap().as_bytes()).unwrap();
        prop_assert_eq!(x, y);
    }

    #[test]
    fn azt_round_trip(sent in payload(&azt::SCHEMA)) {
        let x = AztSignals::parse(sent.to_string().as_bytes()).unwrap();
        keeps_known_values(&sent, &x)?;
        let y = AztSignals::parse(x.to_json().unwrap().as_bytes()).unwrap();
        prop_assert_eq!(&x, &y);
        // Every recognised verdict sent survives, once.
        let sent_known: std::collections::BTreeSet<&str> = sent
            .get("deviceIntegrityLevel")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| azt::INTEGRITY_VALUES.contains(s))
            .collect();
        let kept: Vec<&str> = x.integrity().iter().map(|l| l.as_str()).collect();
        prop_assert_eq!(kept, sent_known.into_iter().collect::<Vec<_>>());
    }

    /// Arbitrary bytes never panic the JSON parsers.
    #[test]
    fn json_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = WscSignals::parse(&data);
        let _ = DtcSignals::parse(&data);
        let _ = AztSignals::parse(&data);
    }
}

#[test]
fn printing_is_the_wire_format() {
    let x = WscSignals::parse(br#"{"fireWall":"GOOD"}"#).unwrap();
    let printed: Value = serde_json::from_str(&x.to_json().unwrap()).unwrap();
    assert_eq!(printed["fireWall"], json!("GOOD"));
    assert_eq!(printed["antiVirus"], json!("UNKNOWN"));
}
