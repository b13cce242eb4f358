//! What a function checks about its environment before it makes an AWS client: an empty
//! endpoint variable is unset, the image has a trust store, and a `sam local` invocation never
//! changes a real account by accident.

/// The variables that point the SDK at another endpoint: the global one and the per-service
/// ones this tool's clients read.
pub const ENDPOINT_VARIABLES: [&str; 7] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECS",
    "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
    "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
    "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ENDPOINT_URL_STS",
];

/// The tester's opt-in to a real account from `sam local` (README, "Testing with SAM locally").
pub const ALLOW_REAL_AWS_FROM_SAM_LOCAL: &str = "ALLOW_REAL_AWS_FROM_SAM_LOCAL";

/// The endpoint variables set to nothing (the template declares `AWS_ENDPOINT_URL: ""` so that
/// `sam local --env-vars` can set it; deployed, it stays empty). The SDK reads an empty value as
/// a URL and panics ("URL was unset"), so these are removed before any client is made.
pub fn empty_endpoint_variables(lookup: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    ENDPOINT_VARIABLES.into_iter().filter(|v| lookup(v).is_some_and(|value| value.trim().is_empty())).collect()
}

/// Why a run must only plan: under `sam local` (SAM sets `AWS_SAM_LOCAL=true` in the container)
/// with no endpoint configured, the SDK would go to the real AWS with the tester's own
/// credentials (SAM passes them into the container). `None` when the run may write.
pub fn sam_local_guard(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| lookup(name).map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty());
    if set("AWS_SAM_LOCAL").as_deref() != Some("true") {
        return None;
    }
    if ENDPOINT_VARIABLES.iter().any(|v| set(v).is_some()) {
        return None;
    }
    if set(ALLOW_REAL_AWS_FROM_SAM_LOCAL).as_deref() == Some("true") {
        return None;
    }
    Some(format!(
        "dry run: this is `sam local` (AWS_SAM_LOCAL=true) with no AWS_ENDPOINT_URL, so it would change the real \
         account of the credentials SAM passed in; point AWS_ENDPOINT_URL at a local endpoint (events/local-env.json), \
         or set {ALLOW_REAL_AWS_FROM_SAM_LOCAL}=true to let it"
    ))
}

/// The image's CA certificates, before the SDK's HTTPS client looks for them (it panics when it
/// finds none: "TrustStore configured to enable native roots but no valid root certificates
/// parsed!"). `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured.
pub fn check_trust_store() -> Result<usize, String> {
    trust_store_of(rustls_native_certs::load_native_certs())
}

fn trust_store_of(found: rustls_native_certs::CertificateResult) -> Result<usize, String> {
    if found.certs.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(format!(
            "no CA certificates in this image{why}: HTTPS to AWS cannot be verified; install the ca-certificates \
             package (the Lambda base images have it) or set SSL_CERT_FILE to a PEM bundle"
        ));
    }
    Ok(found.certs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn empty_endpoints_are_unset_and_real_ones_stay() {
        let found = empty_endpoint_variables(env(&[("AWS_ENDPOINT_URL", ""), ("AWS_ENDPOINT_URL_ECS", "  ")]));
        assert_eq!(found, ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS"]);
        assert!(empty_endpoint_variables(env(&[("AWS_ENDPOINT_URL", "http://172.17.0.1:5000")])).is_empty());
        assert!(empty_endpoint_variables(env(&[])).is_empty());
    }

    #[test]
    fn an_image_without_ca_certificates_is_a_clear_error_not_a_panic() {
        let why = trust_store_of(rustls_native_certs::CertificateResult::default()).unwrap_err();
        assert!(why.starts_with("no CA certificates in this image") && why.contains("ca-certificates"), "{why}");
        assert!(check_trust_store().unwrap() > 0, "this machine has a trust store");
    }

    #[test]
    fn sam_local_without_an_endpoint_only_plans_unless_the_tester_opts_in() {
        let why = sam_local_guard(env(&[("AWS_SAM_LOCAL", "true"), ("AWS_ENDPOINT_URL", "")])).unwrap();
        assert!(why.contains("AWS_SAM_LOCAL=true") && why.contains("ALLOW_REAL_AWS_FROM_SAM_LOCAL=true"), "{why}");
        assert_eq!(sam_local_guard(env(&[("AWS_SAM_LOCAL", "true"), ("AWS_ENDPOINT_URL", "http://x:1")])), None);
        assert_eq!(sam_local_guard(env(&[("AWS_SAM_LOCAL", "true"), ("AWS_ENDPOINT_URL_ECS", "http://x:1")])), None);
        assert_eq!(sam_local_guard(env(&[("AWS_SAM_LOCAL", "true"), (ALLOW_REAL_AWS_FROM_SAM_LOCAL, "TRUE")])), None);
        assert!(sam_local_guard(env(&[("AWS_SAM_LOCAL", "true"), (ALLOW_REAL_AWS_FROM_SAM_LOCAL, "yes")])).is_some());
        assert_eq!(sam_local_guard(env(&[("AWS_ENDPOINT_URL", "")])), None, "deployed: not sam local");
    }
}
