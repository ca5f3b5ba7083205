//! Argument groups that several commands share, flattened into each.

use std::path::PathBuf;

use anyhow::Result;
use casebook_core::choice::Choice;
use casebook_core::run::{HoldsRun, RunDir};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;

/// Where a command writes its run folder.
#[derive(Args)]
pub struct RunArgs {
    /// Run folder name under --runs-dir [default: <case>-<command>-<unix seconds>, e.g. image-train-1764858000].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

impl RunArgs {
    /// A new run folder; `prefix` names it when --run is not given.
    pub fn create(&self, prefix: &str) -> Result<RunDir> {
        RunDir::create(&self.runs_dir, self.run.as_deref(), prefix)
    }

    /// As [`RunArgs::create`], for trainings that `--resume` continues: a
    /// folder that already holds a run says how to continue it.
    pub fn create_resumable(&self, prefix: &str) -> Result<RunDir> {
        self.create(prefix)
            .map_err(|e| match e.downcast_ref::<HoldsRun>() {
                Some(HoldsRun(path)) => anyhow::anyhow!(
                    "run folder {} already holds a run; pass --resume {} to continue it, or --run \
                 NEW_NAME",
                    path.display(),
                    path.display()
                ),
                None => e,
            })
    }
}

/// The seed every random draw of a command derives from.
#[derive(Args)]
pub struct SeedArg {
    /// Random seed: the same seed gives the same result.
    #[arg(long, default_value_t = casebook_core::seed::DEFAULT)]
    pub seed: u64,
}

/// Flag values for a library's [`Choice`]: its names are the accepted values
/// and its explanations the help (`--flag <NAME>` lists them).
pub fn choice<T: Choice + Clone>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        T::CHOICES
            .iter()
            .map(|(_, name, help)| PossibleValue::new(*name).help(*help)),
    )
    .map(|name| T::from_name(&name).expect("clap accepts only listed names"))
}

/// A [`Choice`] or `auto` (let the library pick): `None` for `auto`.
#[derive(Clone, Copy)]
pub struct OrAuto<T>(pub Option<T>);

/// Flag values for [`OrAuto`]: `auto` (explained by `auto_help`) and the choice's names.
pub fn choice_or_auto<T: Choice + Clone>(
    auto_help: &'static str,
) -> impl TypedValueParser<Value = OrAuto<T>> {
    let names = T::CHOICES
        .iter()
        .map(|(_, name, help)| PossibleValue::new(*name).help(*help));
    PossibleValuesParser::new(
        std::iter::once(PossibleValue::new("auto").help(auto_help)).chain(names),
    )
    .map(|name| OrAuto(T::from_name(&name)))
}

/// Flag values that are numbers in [0, 1] (thresholds on probabilities,
/// fractions): NaN, infinities and values outside are refused by clap with
/// the flag's name.
pub fn unit_interval<T: std::str::FromStr + Into<f64> + Copy>(text: &str) -> Result<T, String> {
    let value = number::<T>(text)?;
    if (0.0..=1.0).contains(&value.into()) {
        Ok(value)
    } else {
        Err(format!("must be between 0 and 1 (got {text})"))
    }
}

/// Flag values that are finite numbers of at least 0 (weights, seconds).
pub fn non_negative<T: std::str::FromStr + Into<f64> + Copy>(text: &str) -> Result<T, String> {
    let value = number::<T>(text)?;
    let x: f64 = value.into();
    if x.is_finite() && x >= 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "must be a finite number of at least 0 (got {text})"
        ))
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}
