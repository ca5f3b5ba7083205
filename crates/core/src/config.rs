//! Configuration errors. Libraries name the configuration field that is wrong
//! (`learning_rate`, `spectrogram.hop`); a front end maps the field to what its
//! user typed (the CLI to a flag, a web form to an input).

/// A configuration value the work cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidConfig {
    /// The field's path in the configuration, e.g. `batch_size` or `spectrogram.hop`.
    pub field: String,
    /// What is wrong and what would do, e.g. "must be at least 2 (...)".
    pub problem: String,
}

/// Fails with [`InvalidConfig`] for `field` unless `ok`.
pub fn require(ok: bool, field: &str, problem: impl Into<String>) -> Result<(), InvalidConfig> {
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig {
            field: field.to_string(),
            problem: problem.into(),
        })
    }
}

/// Fails unless `value` is a finite number of at least zero (a weight).
pub fn require_non_negative(value: f64, field: &str) -> Result<(), InvalidConfig> {
    require(
        value >= 0.0 && value.is_finite(),
        field,
        format!("must be a number ≥ 0 (got {value})"),
    )
}

/// Fails unless `value` is a finite number above zero.
pub fn require_positive(value: f64, field: &str) -> Result<(), InvalidConfig> {
    require(
        value > 0.0 && value.is_finite(),
        field,
        format!("must be a positive number (got {value})"),
    )
}
