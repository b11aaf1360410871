//! Reads attribute values for expressions from a context and a signal
//! source.

use devicetrust_edr::{Lookup, SignalSource, SignalValue};

use crate::context::Context;
use crate::expr::check::Attr;
use crate::expr::eval::{Env, Value, json};

/// A context, with provider signals from `signals`.
pub(crate) struct EvalEnv<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) signals: &'a dyn SignalSource,
}

/// Reads a signal; stale and absent both read as null.
pub(crate) fn signal_value(lookup: Lookup<'_>) -> Value<'_> {
    match lookup {
        Lookup::Present(SignalValue::Bool(b)) => Value::Bool(b),
        Lookup::Present(SignalValue::Number(n)) => Value::Number(n),
        Lookup::Present(SignalValue::String(s)) => Value::Str(s),
        Lookup::Present(SignalValue::Timestamp(t)) => Value::Time(t),
        Lookup::Present(SignalValue::List(items)) => Value::Strings(items),
        _ => Value::Null,
    }
}

impl Env for EvalEnv<'_> {
    fn attr(&self, attr: &Attr) -> Value<'_> {
        let ctx = self.ctx;
        let device = ctx.device.as_ref();
        match attr {
            Attr::UserId => ctx.user.id.as_deref().map_or(Value::Null, Value::Str),
            Attr::UserType => ctx
                .user
                .user_type
                .as_deref()
                .map_or(Value::Null, Value::Str),
            Attr::UserProfile(name) => ctx.user.profile.get(name).map_or(Value::Null, json),
            // A device Okta knows nothing about is neither registered nor
            // managed, as in the `device` condition.
            Attr::DeviceRegistered => Value::Bool(device.is_some_and(|d| d.registered)),
            Attr::DeviceManaged => Value::Bool(device.is_some_and(|d| d.managed)),
            Attr::DevicePlatform => device
                .and_then(|d| d.platform)
                .map_or(Value::Null, |p| Value::Str(p.as_str())),
            Attr::DeviceProfile(name) => device
                .and_then(|d| d.profile.get(name))
                .map_or(Value::Null, json),
            Attr::Provider { provider, name } => signal_value(self.signals.lookup(provider, name)),
            Attr::RiskLevel => ctx
                .risk
                .level
                .map_or(Value::Null, |l| Value::Str(l.as_str())),
        }
    }

    fn is_member(&self, group: &str) -> bool {
        self.ctx.user.groups.iter().any(|g| g == group)
    }
}

impl crate::expr::CompiledExpr {
    /// Evaluates against `ctx`, reading EDR signals from it: `Some(bool)`,
    /// or `None` when the result is undefined (an attribute it needed was
    /// absent). Undefined never grants anything.
    #[must_use]
    pub fn evaluate(&self, ctx: &Context) -> Option<bool> {
        self.evaluate_with(ctx, ctx)
    }

    /// As [`evaluate`](Self::evaluate), reading EDR signals from `signals`.
    #[must_use]
    pub fn evaluate_with(&self, ctx: &Context, signals: &dyn SignalSource) -> Option<bool> {
        self.eval(&EvalEnv { ctx, signals })
    }
}
