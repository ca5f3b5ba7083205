//! `casebook logreg ...` and `casebook data tabular`: flags → `casebook_logreg` calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::balance::Balance;
use casebook_core::run::RunDir;
use casebook_logreg::data::{generate, Encoding, Missing, Mode, Table};
use casebook_logreg::infer::{describe_notes, Model};
use casebook_logreg::train::{self, TrainConfig};
use clap::{Args, Subcommand, ValueEnum};

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
        /// Run folder name under --runs-dir [default: logreg-eval-<time>].
        #[arg(long)]
        run: Option<String>,
        /// Folder holding run folders.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
    },
    /// Predict rows of a CSV: appends p_<class> columns and the predicted label(s) as strings.
    Predict {
        /// Model file written by `logreg train`.
        model: PathBuf,
        /// CSV with the training file's feature columns (target columns are not needed).
        data: PathBuf,
        /// Output CSV [default: DATA with .predictions.csv].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Pick from the target columns (and say what was picked).
    Auto,
    Binary,
    Multilabel,
    Multiclass,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum EncodeArg {
    /// One 0/1 input per category (plus one for unseen ones): right for a linear model.
    Onehot,
    /// One input with the category's integer code. Cheaper, but it tells a linear model that
    /// categories are ordered and equally spaced (red < green < blue), which is rarely true.
    Label,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MissingArg {
    /// Fill missing features with the training mean or most frequent category.
    Impute,
    /// Drop rows with any missing feature.
    Drop,
}

#[derive(Args)]
pub struct TrainArgs {
    /// CSV file with a header row.
    pub data: PathBuf,
    /// Target column(s), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Binary (one sigmoid), multilabel (independent sigmoids) or multiclass (softmax).
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ModeArg,
    /// How text (categorical) columns become numbers.
    #[arg(long, value_enum, default_value = "onehot")]
    pub encode: EncodeArg,
    /// What to do with missing feature values (empty, NA, NaN, ?).
    #[arg(long, value_enum, default_value = "impute")]
    pub missing: MissingArg,
    /// L2 penalty strength, as scikit-learn's 1/C (1.0 matches LogisticRegression's default C=1).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Class imbalance: none, or weights (loss weights n/(k·n_c); per label in multilabel).
    #[arg(long, default_value = "none")]
    pub balance: Balance,
    /// Fraction of rows held out (stratified) to test on; 0 trains on every row.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Random seed for the held-out split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Columns to leave out of the features (ids, free text), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Run folder name under --runs-dir [default: logreg-<time>].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TableKind {
    /// `approved` yes/no from numeric columns and a colour.
    Binary,
    /// `species` bird/cat/dog.
    Multiclass,
    /// `tags`: `;`-separated politics/sports/tech.
    Multilabel,
}

pub fn run(cmd: LogregCommand, quiet: bool) -> Result<()> {
    match cmd {
        LogregCommand::Train(args) => train_cmd(&args, quiet),
        LogregCommand::Eval {
            model,
            data,
            run,
            runs_dir,
        } => eval(&model, &data, run.as_deref(), &runs_dir),
        LogregCommand::Predict { model, data, out } => predict(&model, &data, out),
    }
}

pub fn config_from(args: &TrainArgs) -> TrainConfig {
    TrainConfig {
        data: args.data.clone(),
        targets: args.target.clone(),
        mode: match args.mode {
            ModeArg::Auto => None,
            ModeArg::Binary => Some(Mode::Binary),
            ModeArg::Multilabel => Some(Mode::Multilabel),
            ModeArg::Multiclass => Some(Mode::Multiclass),
        },
        encoding: match args.encode {
            EncodeArg::Onehot => Encoding::Onehot,
            EncodeArg::Label => Encoding::Label,
        },
        missing: match args.missing {
            MissingArg::Impute => Missing::Impute,
            MissingArg::Drop => Missing::Drop,
        },
        l2: args.l2,
        balance: args.balance,
        seed: args.seed,
        holdout: args.holdout,
        max_iter: args.max_iter,
        ignore: args.ignore.clone(),
        ..TrainConfig::default()
    }
}

fn train_cmd(args: &TrainArgs, quiet: bool) -> Result<()> {
    let config = config_from(args);
    let run = RunDir::create(&args.runs_dir, args.run.as_deref(), "logreg")?;
    let outcome = match train::train(&config, &run, quiet) {
        Ok(o) => o,
        Err(e) => {
            let _ = std::fs::remove_dir_all(run.path());
            return Err(e);
        }
    };
    let picked = if matches!(args.mode, ModeArg::Auto) {
        " (picked from the targets)"
    } else {
        ""
    };
    println!("mode: {:?}{picked}", outcome.mode);
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
    println!("model:  {}", run.model_path().display());
    println!("report: {}", run.report_path().display());
    Ok(())
}

fn eval(model_path: &Path, data: &Path, run: Option<&str>, runs_dir: &Path) -> Result<()> {
    let model = Model::load(model_path)?;
    let table = Table::read(data)?;
    let rows: Vec<usize> = (0..table.rows.len())
        .filter(|&r| model.targets.present(&table, r))
        .collect();
    if rows.is_empty() {
        bail!(
            "{} has no rows with the target column(s) {}",
            data.display(),
            model.targets.columns().join(", ")
        );
    }
    let (p, notes) = model.probabilities(&table, &rows)?;
    for line in describe_notes(&notes) {
        eprintln!("{line}");
    }
    let y = model.targets.encode(&table, &rows)?;
    let k = model.targets.output_names().len();
    let evaluation = casebook_logreg::eval::evaluate(
        model.targets.mode,
        &model.targets.class_names(),
        &p,
        &y,
        k,
    );
    let run = RunDir::create(runs_dir, run, "logreg-eval")?;
    run.write_config(
        &serde_json::json!({ "command": "logreg eval", "model": model_path, "data": data }),
    )?;
    casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
    let mut report =
        casebook_core::report::Report::new(format!("Evaluation of {}", model_path.display()));
    evaluation.add_to_report(&mut report, "Evaluation")?;
    report.save(&run.report_path())?;
    print!("{}", evaluation.summary());
    println!("report: {}", run.report_path().display());
    Ok(())
}

fn predict(model_path: &Path, data: &Path, out: Option<PathBuf>) -> Result<()> {
    let model = Model::load(model_path)?;
    let table = Table::read(data)?;
    let out = out.unwrap_or_else(|| data.with_extension("predictions.csv"));
    let notes = model.predict_csv(&table, &out)?;
    for line in describe_notes(&notes) {
        eprintln!("{line}");
    }
    println!(
        "wrote {} predictions to {}",
        table.rows.len(),
        out.display()
    );
    Ok(())
}

pub fn generate_table(kind: TableKind, rows: usize, out: &Path, seed: u64) -> Result<()> {
    let mode = match kind {
        TableKind::Binary => Mode::Binary,
        TableKind::Multiclass => Mode::Multiclass,
        TableKind::Multilabel => Mode::Multilabel,
    };
    let targets = generate::write_table(out, mode, rows, seed)?;
    println!(
        "wrote {rows} rows to {} (target: {}; try --ignore id)",
        out.display(),
        targets.join(",")
    );
    Ok(())
}
