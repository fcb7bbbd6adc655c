//! Which AWS errors are throttling. X-Ray SDKs mark an AWS call that failed with one of these
//! as `throttle` (and `error`) although the service answered 400, not 429 (the Java SDK's
//! `RetryUtils.isThrottlingException`); OTLP spans carry only the exception's type, so the
//! OTLP mapping applies the same list to it.

/// The error codes of the AWS SDKs' throttling retry condition.
const THROTTLING_ERROR_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether an exception type names an AWS throttling error, bare
/// (`ProvisionedThroughputExceededException`) or qualified as SDKs write it
/// (`software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughputExceededException`,
/// `botocore.errorfactory.ThrottlingException`).
pub fn is_throttling_error(exception_type: &str) -> bool {
    let name = exception_type.rsplit(['.', '$', ':']).next().unwrap_or(exception_type);
    THROTTLING_ERROR_CODES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::is_throttling_error;

    #[test]
    fn bare_and_qualified_throttling_errors_are_recognised() {
        assert!(is_throttling_error("ProvisionedThroughputExceededException"));
        assert!(is_throttling_error(
            "software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughputExceededException"
        ));
        assert!(is_throttling_error("botocore.errorfactory.ThrottlingException"));
        assert!(is_throttling_error("Amazon.DynamoDBv2.Model::ThrottlingException"));
    }

    #[test]
    fn other_errors_are_not_throttling() {
        assert!(!is_throttling_error("ResourceNotFoundException"));
        assert!(!is_throttling_error("ThrottlingExceptionHandler"));
        assert!(!is_throttling_error(""));
    }
}
