//! The ARNs Fluoro assigns to what it keeps (sampling rules, groups). Fluoro is not an AWS
//! account: its ARNs carry placeholders for region and account so that clients that parse
//! ARNs still see the usual six parts.

pub const ARN_REGION: &str = "local";
pub const ARN_ACCOUNT: &str = "000000000000";

/// `arn:aws:xray:local:000000000000:<resource>`, e.g. `resource` = `group/slow`.
pub fn xray_arn(resource: &str) -> String {
    format!("arn:aws:xray:{ARN_REGION}:{ARN_ACCOUNT}:{resource}")
}
