//! Cedar policies of gateway routes: validated against the schema below at start-up (a bad
//! policy stops the server, naming its line and column), evaluated on every request with the
//! principal, the method as the action, the route as the resource, and the request context.

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema, ValidationMode,
    Validator,
};
use miette::Diagnostic;
use portcullis_core::service::Principal;
use serde_json::json;

/// What policies can talk about.
pub const SCHEMA: &str = r#"
namespace Portcullis {
  entity Principal = { role: String, kind: String, scopes: Set<String> };
  entity Route = { prefix: String };
  type RequestContext = {
    ip: ipaddr,
    path: String,
    time: Long,
    mfa: Bool,
    session_age: Long,
    amr: Set<String>,
    elevated: Bool,
    elevation_id: String,
  };
  action "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"
    appliesTo { principal: [Principal], resource: [Route], context: RequestContext };
}
"#;

/// The compiled policy of one route.
#[derive(Debug)]
pub struct RoutePolicy {
    set: PolicySet,
    schema: Schema,
}

/// The request facts a decision uses.
#[derive(Debug)]
pub struct Facts<'a> {
    /// Who, if anyone.
    pub principal: Option<&'a Principal>,
    /// The HTTP method.
    pub method: &'a str,
    /// The route's name and prefix.
    pub route: (&'a str, &'a str),
    /// The request path.
    pub path: &'a str,
    /// Client IP.
    pub ip: Option<std::net::IpAddr>,
    /// Unix time.
    pub now: i64,
}

/// A decision and the policies that made it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Allowed.
    pub allow: bool,
    /// Ids (an `@id("...")` annotation when present) of the determining policies.
    pub policies: Vec<String>,
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = src.get(..offset.min(src.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn describe(src: &str, d: &dyn Diagnostic, msg: String) -> String {
    match d.labels().and_then(|mut l| l.next()) {
        Some(label) => {
            let (line, col) = line_col(src, label.offset());
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// Parses and validates `text` (strict mode) for route `route`.
pub fn compile(route: &str, text: &str) -> Result<RoutePolicy, String> {
    let (schema, _) =
        Schema::from_cedarschema_str(SCHEMA).map_err(|e| format!("built-in Cedar schema: {e}"))?;
    let set = PolicySet::from_str(text).map_err(|e| {
        let first = e.iter().next().map(|d| describe(text, d, d.to_string()));
        format!(
            "route `{route}`: Cedar policy does not parse: {}",
            first.unwrap_or_else(|| e.to_string())
        )
    })?;
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let errs: Vec<String> = result
            .validation_errors()
            .map(|e| {
                let msg = e.to_string();
                let loc = e
                    .labels()
                    .and_then(|mut l| l.next())
                    .map(|l| {
                        let (line, col) = line_col(text, l.offset());
                        format!("line {line}, column {col}: ")
                    })
                    .unwrap_or_default();
                format!("{loc}{msg}")
            })
            .collect();
        return Err(format!(
            "route `{route}`: Cedar policy does not validate against the gateway schema: {}",
            errs.join("; ")
        ));
    }
    Ok(RoutePolicy { set, schema })
}

impl RoutePolicy {
    /// Evaluates the policy; anything that cannot be evaluated is a deny.
    pub fn decide(&self, f: &Facts<'_>) -> Verdict {
        let deny = |why: &str| Verdict {
            allow: false,
            policies: vec![format!("(error: {why})")],
        };
        let (kind, id, role, scopes, session_age) = match f.principal {
            None => (
                "anonymous",
                "anonymous".to_owned(),
                "anonymous",
                Vec::new(),
                0,
            ),
            Some(p) => match &p.api_key {
                Some(g) if g.id.starts_with("mtls:") => (
                    "mtls",
                    p.user_id.clone(),
                    p.role.as_str(),
                    g.scopes.clone(),
                    0,
                ),
                Some(g) => (
                    "api_key",
                    p.user_id.clone(),
                    p.role.as_str(),
                    g.scopes.clone(),
                    0,
                ),
                None => (
                    "user",
                    p.user_id.clone(),
                    p.role.as_str(),
                    p.elevation
                        .as_ref()
                        .map(|e| e.scopes.clone())
                        .unwrap_or_default(),
                    (f.now - p.auth_time).max(0),
                ),
            },
        };
        let amr: Vec<String> = f.principal.map(|p| p.amr.clone()).unwrap_or_default();
        let elevation = f.principal.and_then(|p| p.elevation.as_ref());
        let mfa = kind == "mtls"
            || kind == "api_key"
            || f.principal.is_some_and(Principal::has_second_factor);
        let entities = json!([
            {"uid": {"type": "Portcullis::Principal", "id": id}, "parents": [],
             "attrs": {"role": role, "kind": kind, "scopes": scopes}},
            {"uid": {"type": "Portcullis::Route", "id": f.route.0}, "parents": [],
             "attrs": {"prefix": f.route.1}},
        ]);
        let Ok(entities) = Entities::from_json_value(entities, Some(&self.schema)) else {
            return deny("entities");
        };
        let uid = |t: &str, id: &str| {
            EntityUid::from_str(&format!("{t}::{}", serde_json::Value::from(id))).ok()
        };
        let (Some(principal), Some(action), Some(resource)) = (
            uid("Portcullis::Principal", &id),
            uid("Portcullis::Action", f.method),
            uid("Portcullis::Route", f.route.0),
        ) else {
            return deny("uids");
        };
        let ip = f.ip.map_or_else(|| "0.0.0.0".to_owned(), |i| i.to_string());
        let context = json!({
            "ip": {"__extn": {"fn": "ip", "arg": ip}},
            "path": f.path,
            "time": f.now,
            "mfa": mfa,
            "session_age": session_age,
            "amr": amr,
            "elevated": elevation.is_some(),
            "elevation_id": elevation.map_or("", |e| e.id.as_str()),
        });
        let Ok(context) = Context::from_json_value(context, Some((&self.schema, &action))) else {
            return deny("context");
        };
        let Ok(request) = Request::new(principal, action, resource, context, Some(&self.schema))
        else {
            return deny("request (unknown method?)");
        };
        let response = Authorizer::new().is_authorized(&request, &self.set, &entities);
        let policies = response
            .diagnostics()
            .reason()
            .map(|pid| {
                self.set
                    .annotation(pid, "id")
                    .map_or_else(|| pid.to_string(), str::to_owned)
            })
            .collect();
        Verdict {
            allow: response.decision() == Decision::Allow,
            policies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_policies_name_their_position() {
        let e = compile(
            "r",
            "permit(principal, action, resource)\nwhen { principal.nope == 1 };",
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("does not validate"), "{e}");
        let e = compile(
            "r",
            "permit(principal, action, resource);\nforbid(principal action, resource);",
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn decisions_use_the_context() {
        let p = compile(
            "r",
            r#"@id("office-get")
permit(principal, action == Portcullis::Action::"GET", resource)
when { context.ip.isInRange(ip("127.0.0.0/8")) };"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let f = |method, ip: &str| Facts {
            principal: None,
            method,
            route: ("r", "/r"),
            path: "/r/x",
            ip: ip.parse().ok(),
            now: 1,
        };
        let v = p.decide(&f("GET", "127.0.0.1"));
        assert!(v.allow);
        assert_eq!(v.policies, vec!["office-get".to_owned()]);
        assert!(!p.decide(&f("GET", "192.0.2.1")).allow);
        assert!(!p.decide(&f("POST", "127.0.0.1")).allow);
    }
}
