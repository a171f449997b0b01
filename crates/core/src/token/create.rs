//! Creating child tokens: parameters, the rules of the contract (policy subset, orphan and
//! periodic tokens need root or sudo, TTL capping), and roles.

use coffer_types::{Error, Map, Result, random_base62, ttl_capped_warning, unix_now};

use super::TokenEntry;
use super::roles::TokenRole;

/// The parameters of `auth/token/create*`, already coerced.
#[derive(Debug, Clone, Default)]
pub struct CreateParams {
    /// Explicit token id (root only).
    pub id: String,
    /// Requested policies (`None`: inherit the parent's).
    pub policies: Option<Vec<String>>,
    /// Metadata.
    pub meta: Map,
    /// Create an orphan.
    pub no_parent: bool,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// Renewable (default true).
    pub renewable: Option<bool>,
    /// TTL in seconds (0 = default).
    pub ttl: i64,
    /// Hard cap in seconds.
    pub explicit_max_ttl: i64,
    /// Display name suffix.
    pub display_name: String,
    /// Number of uses (0 = unlimited).
    pub num_uses: i64,
    /// Period in seconds.
    pub period: i64,
    /// `service` or `batch`.
    pub token_type: String,
}

/// Who asks, and where.
pub(crate) struct CreateContext<'a> {
    /// The caller's token.
    pub parent: &'a TokenEntry,
    /// The caller's token hash.
    pub parent_hash: &'a str,
    /// Whether the caller has sudo on the path (or is root).
    pub privileged: bool,
    /// `auth/token/create`, `.../create-orphan` or `.../create/<role>`.
    pub path: String,
    /// Forced orphan (the create-orphan endpoint).
    pub orphan_endpoint: bool,
    /// The token mount's default and maximum TTL.
    pub default_ttl: i64,
    /// The token mount's maximum TTL.
    pub max_ttl: i64,
}

/// Lower-cases, trims, de-duplicates and sorts policy names.
pub(crate) fn sanitize_policies(policies: &[String]) -> Vec<String> {
    let mut out: Vec<String> =
        policies.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    out.sort();
    out.dedup();
    out
}

fn check_policies(
    ctx: &CreateContext<'_>,
    role: Option<&TokenRole>,
    policies: &[String],
) -> Result<()> {
    if let Some(role) = role {
        for p in policies.iter().filter(|p| *p != "default") {
            if role.disallowed_policies.contains(p) {
                return Err(Error::invalid(format!(
                    "token policy {p:?} is disallowed by this role"
                )));
            }
            if !role.allowed_policies.is_empty() && !role.allowed_policies.contains(p) {
                return Err(Error::invalid(format!(
                    "token policies ({policies:?}) must be subset of the role's allowed policies"
                )));
            }
        }
        return Ok(());
    }
    if policies.iter().any(|p| p == "root") && !ctx.parent.is_root() {
        return Err(Error::invalid(
            "root tokens may not be created without parent token being root",
        ));
    }
    if !ctx.parent.is_root() && !ctx.privileged {
        let subset = policies.iter().all(|p| p == "default" || ctx.parent.policies.contains(p));
        if !subset {
            return Err(Error::invalid("child policies must be subset of parent"));
        }
    }
    Ok(())
}

/// Builds the new token's entry; returns the token, the entry and any warnings.
pub(crate) fn build(
    ctx: &CreateContext<'_>,
    params: &CreateParams,
    role: Option<&TokenRole>,
) -> Result<(String, TokenEntry, Vec<String>)> {
    let privileged = ctx.parent.is_root() || ctx.privileged;
    if ctx.parent.token_type == "batch" {
        return Err(Error::invalid("batch tokens cannot create more tokens"));
    }
    let wanted_type = match (params.token_type.as_str(), role) {
        ("", Some(r)) => r.token_type.as_str(),
        (given, _) => given,
    };
    let token_type = match wanted_type {
        "" | "service" | "default-service" | "default" => "service",
        "batch" | "default-batch" => "batch",
        other => return Err(Error::invalid(format!("invalid 'token_type' value {other:?}"))),
    };
    let batch = token_type == "batch";
    let token = if batch {
        if !params.id.is_empty() {
            return Err(Error::invalid("batch tokens cannot have a custom ID"));
        }
        super::TokenStore::generate_batch()
    } else if params.id.is_empty() {
        super::TokenStore::generate()
    } else {
        if !ctx.parent.is_root() {
            return Err(Error::invalid("root or sudo privileges required to specify token id"));
        }
        if params.id.contains('.') {
            return Err(Error::invalid("custom token IDs cannot contain a '.'"));
        }
        params.id.clone()
    };
    let orphan = ctx.orphan_endpoint || role.is_some_and(|r| r.orphan) || params.no_parent;
    if params.no_parent && !ctx.orphan_endpoint && !privileged {
        return Err(Error::invalid("root or sudo privileges required to create orphan token"));
    }
    let period = match role {
        Some(r) if r.token_period > 0 => r.token_period,
        _ => params.period,
    };
    if params.period > 0 && !privileged && role.is_none() {
        return Err(Error::invalid("root or sudo privileges required to create periodic token"));
    }
    if params.num_uses < 0 {
        return Err(Error::invalid("number of uses cannot be negative"));
    }
    let no_default = params.no_default_policy || role.is_some_and(|r| r.token_no_default_policy);
    let requested = match (&params.policies, role) {
        (Some(p), _) if !p.is_empty() => sanitize_policies(p),
        (_, Some(r)) if !r.allowed_policies.is_empty() => r.allowed_policies.clone(),
        _ => ctx.parent.policies.clone(),
    };
    check_policies(ctx, role, &requested)?;
    let mut policies = requested;
    if no_default {
        policies.retain(|p| p != "default");
    } else if !policies.iter().any(|p| p == "root" || p == "default") {
        policies.push("default".to_string());
    }
    let policies = sanitize_policies(&policies);

    let mut warnings = Vec::new();
    let explicit_max = match role {
        Some(r) if r.token_explicit_max_ttl > 0 => r.token_explicit_max_ttl,
        _ => params.explicit_max_ttl,
    };
    let max_ttl = match explicit_max {
        0 => ctx.max_ttl,
        e => e.min(ctx.max_ttl),
    };
    let mut ttl = if period > 0 { period } else { params.ttl };
    let is_root_token = policies.iter().any(|p| p == "root");
    if ttl == 0 && !(is_root_token && explicit_max == 0 && period == 0) {
        ttl = ctx.default_ttl;
    }
    if ttl > max_ttl && (period == 0 || explicit_max > 0) {
        warnings.push(ttl_capped_warning(ttl, max_ttl));
        ttl = max_ttl;
    }
    let now = unix_now();
    let display_name = if params.display_name.is_empty() {
        "token".to_string()
    } else {
        format!("token-{}", params.display_name.trim_start_matches("token-"))
    };
    let entry = TokenEntry {
        // Batch tokens have no accessor and cannot be renewed (as the reference's).
        accessor: if batch { String::new() } else { random_base62(24) },
        policies,
        path: ctx.path.clone(),
        display_name,
        meta: (!params.meta.is_empty()).then(|| params.meta.clone()),
        creation_time: now,
        creation_ttl: ttl,
        expire_time: if ttl > 0 { now + ttl } else { 0 },
        last_renewal_time: 0,
        renewal_ttl: 0,
        explicit_max_ttl: explicit_max,
        period,
        num_uses: role.map_or(0, |r| r.token_num_uses).max(params.num_uses),
        parent: if orphan { String::new() } else { ctx.parent_hash.to_string() },
        token_type: token_type.to_string(),
        renewable: !batch && params.renewable.unwrap_or(role.is_none_or(|r| r.renewable)),
        entity_id: String::new(),
        role: role.map(|r| r.name.clone()).unwrap_or_default(),
        mount_max_ttl: ctx.max_ttl,
        mount_accessor: String::new(),
        bound_cidrs: Vec::new(),
        internal: Map::new(),
    };
    Ok((token, entry, warnings))
}

/// The TTL settings a renewal applies, in seconds: the TTL without an increment, the cap
/// on the token's life from its creation (0 = none), and the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RenewalTerms {
    pub(crate) ttl: i64,
    pub(crate) max_ttl: i64,
    pub(crate) period: i64,
}

impl RenewalTerms {
    /// The terms the token was issued with.
    pub(crate) fn issued(entry: &TokenEntry) -> Self {
        RenewalTerms { ttl: entry.creation_ttl, max_ttl: entry.mount_max_ttl, period: entry.period }
    }

    /// The terms of a token store token: as issued, but with the TTL the last renewal
    /// granted (the reference's token lease keeps it for renewals without an increment).
    pub(crate) fn token_store(entry: &TokenEntry) -> Self {
        let ttl = if entry.renewal_ttl > 0 { entry.renewal_ttl } else { entry.creation_ttl };
        RenewalTerms { ttl, ..Self::issued(entry) }
    }
}

/// Fails unless `entry` can be renewed at all (root tokens without TTL and tokens created
/// non-renewable cannot).
pub(crate) fn check_renewable(entry: &TokenEntry) -> Result<()> {
    if !entry.renewable || entry.expire_time == 0 {
        return Err(Error::invalid("lease is not renewable"));
    }
    Ok(())
}

/// The renewed entry for an increment (seconds, 0 = the terms' TTL) on `terms`, and a
/// warning when it was capped by the token's maximum TTL.
pub(crate) fn renewed(
    entry: &TokenEntry,
    terms: RenewalTerms,
    increment: i64,
    now: i64,
) -> Result<(TokenEntry, Vec<String>)> {
    check_renewable(entry)?;
    let mut warnings = Vec::new();
    let wanted = if terms.period > 0 {
        terms.period
    } else if increment > 0 {
        increment
    } else {
        terms.ttl
    };
    let mut max_expire = i64::MAX;
    if entry.explicit_max_ttl > 0 {
        max_expire = entry.creation_time + entry.explicit_max_ttl;
    }
    if terms.period == 0 && terms.max_ttl > 0 {
        max_expire = max_expire.min(entry.creation_time + terms.max_ttl);
    }
    let mut expire = now + wanted;
    if expire > max_expire {
        expire = max_expire;
        warnings.push(ttl_capped_warning(wanted, (max_expire - now).max(0)));
    }
    let mut new = entry.clone();
    new.expire_time = expire;
    new.last_renewal_time = now;
    new.renewal_ttl = expire - now;
    new.period = terms.period;
    new.mount_max_ttl = terms.max_ttl;
    Ok((new, warnings))
}
