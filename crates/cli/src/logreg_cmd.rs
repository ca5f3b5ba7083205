//! `casebook logreg ...` and `casebook data tabular`: flags → `casebook_logreg` calls.

use std::path::{Path, PathBuf};

use anyhow::Result;
use casebook_core::balance::Balance;
use casebook_core::choice::Choice;
use casebook_core::observe::Observer;
use casebook_logreg::data::{generate, Encoding, Missing, Mode};
use casebook_logreg::eval::{evaluate_csv, EvalConfig};
use casebook_logreg::infer::predict_csv;
use casebook_logreg::train::{self, TrainConfig};
use clap::{Args, Subcommand};

use crate::args::{choice, choice_or_auto, non_negative, OrAuto, RunArgs, SeedArg};
use crate::terminal::print_evaluation;

#[derive(Subcommand)]
pub enum LogregCommand {
    /// Fit logistic regression on a CSV file; writes a run folder with the model and report.html.
    ///
    /// Every column that is not a --target (or --ignore'd) is a feature: numeric columns are
    /// standardised, text columns are categorical. The mode follows the targets unless --mode
    /// says otherwise: one column with two values is binary, with more values multiclass; several
    /// 0/1 columns, or one column of `;`-separated tags, are multilabel.
    Train(TrainArgs),
    /// Evaluate a model on a labelled CSV (accuracy, per-class or per-label P/R/F1, log-loss, ROC).
    Eval {
        /// Model file written by `logreg train`.
        model: PathBuf,
        /// CSV with the same feature and target columns as the training file.
        data: PathBuf,
        /// Print one JSON object (report, metrics and every item's result) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Predict rows of a CSV: appends p_<class> columns and the predicted label(s) as strings.
    Predict {
        /// Model file written by `logreg train`.
        model: PathBuf,
        /// CSV with the training file's feature columns (target columns are not needed).
        data: PathBuf,
        /// Output CSV [default: DATA with .predictions.csv].
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct TrainArgs {
    /// CSV file with a header row.
    pub data: PathBuf,
    /// Target column(s), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Binary (one sigmoid), multilabel (independent sigmoids) or multiclass (softmax).
    #[arg(long, value_parser = choice_or_auto::<Mode>("pick from the target columns (and say what was picked)"), default_value = "auto")]
    pub mode: OrAuto<Mode>,
    /// How text (categorical) columns become numbers.
    #[arg(long, value_parser = choice::<Encoding>(), default_value = TrainConfig::default().encoding.name())]
    pub encode: Encoding,
    /// What to do with missing feature values (empty, NA, NaN, ?).
    #[arg(long, value_parser = choice::<Missing>(), default_value = TrainConfig::default().missing.name())]
    pub missing: Missing,
    /// L2 penalty strength, as scikit-learn's 1/C (1.0 matches LogisticRegression's default C=1).
    #[arg(long, default_value_t = TrainConfig::default().l2, value_parser = non_negative::<f64>)]
    pub l2: f64,
    /// Class imbalance (weights are per label in multilabel; sampler does not apply to a full-batch fit).
    #[arg(long, value_parser = choice::<Balance>(), default_value = Balance::None.name())]
    pub balance: Balance,
    /// Fraction of rows held out (stratified) to test on; 0 trains on every row.
    #[arg(long, default_value_t = TrainConfig::default().holdout)]
    pub holdout: f64,
    #[command(flatten)]
    pub seed: SeedArg,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = TrainConfig::default().max_iter)]
    pub max_iter: usize,
    /// Columns to leave out of the features (ids, free text), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(cmd: LogregCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        LogregCommand::Train(args) => train_cmd(&args, observer),
        LogregCommand::Eval {
            model,
            data,
            json,
            run,
        } => {
            let result = evaluate_csv(
                &EvalConfig { model, data },
                run.create("logreg-eval")?,
                observer,
            )?;
            print_evaluation(
                json,
                &result.evaluation.summary(),
                &result.run.report_path(),
                &result.evaluation,
                &result.outcomes,
            )
        }
        LogregCommand::Predict { model, data, out } => {
            let out = out.unwrap_or_else(|| data.with_extension("predictions.csv"));
            let rows = predict_csv(&model, &data, &out, observer)?;
            println!("wrote {rows} predictions to {}", out.display());
            Ok(())
        }
    }
}

pub fn config_from(args: &TrainArgs) -> TrainConfig {
    TrainConfig {
        data: args.data.clone(),
        targets: args.target.clone(),
        mode: args.mode.0,
        encoding: args.encode,
        missing: args.missing,
        l2: args.l2,
        balance: args.balance,
        seed: args.seed.seed,
        holdout: args.holdout,
        max_iter: args.max_iter,
        ignore: args.ignore.clone(),
        ..TrainConfig::default()
    }
}

fn train_cmd(args: &TrainArgs, observer: &dyn Observer) -> Result<()> {
    let config = config_from(args);
    let outcome = train::train(&config, args.run.create("logreg-train")?, observer)?;
    let picked = if args.mode.0.is_none() {
        " (picked from the targets)"
    } else {
        ""
    };
    println!("mode: {}{picked}", outcome.mode.name());
    for note in &outcome.notes {
        println!("{note}");
    }
    println!(
        "L-BFGS: {} evaluations, {:.3} s, largest gradient {:.1e}{}",
        outcome.fit.evaluations,
        outcome.fit.seconds,
        outcome.fit.max_gradient,
        if outcome.fit.converged {
            ", converged"
        } else {
            ", NOT converged"
        }
    );
    print!("train {}", outcome.train.summary());
    if let Some(test) = &outcome.test {
        print!("test {}", test.summary());
    }
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

pub fn generate_table(mode: Mode, rows: usize, out: &Path, seed: u64) -> Result<()> {
    let targets = generate::write_table(out, mode, rows, seed)?;
    println!(
        "wrote {rows} rows to {} (target: {}; try --ignore id)",
        out.display(),
        targets.join(",")
    );
    Ok(())
}
