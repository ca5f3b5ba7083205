//! rustpotter 3 on casebook's trigger-word data:
//!
//!   rustpotter-bench train --pool POOL --backgrounds DIR --out MODEL.rpw
//!       [--model-type large] [--epochs 1000] [--lr 0.03]
//!   rustpotter-bench detect --model MODEL.rpw --out DETECTIONS.csv [--threshold 0.3] FOLDER...

mod detect;
mod train;

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};

/// `--name value` options and the other (positional) arguments.
struct Args {
    options: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self> {
        let (mut options, mut positional) = (HashMap::new(), Vec::new());
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.strip_prefix("--") {
                Some(name) => {
                    let value = args
                        .next()
                        .ok_or_else(|| anyhow!("--{name} needs a value"))?;
                    options.insert(name.to_string(), value);
                }
                None => positional.push(arg),
            }
        }
        Ok(Self {
            options,
            positional,
        })
    }

    fn required(&self, name: &str) -> Result<&str> {
        self.options
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("missing --{name}"))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.options.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| anyhow!("--{name} {v}: {e}")),
        }
    }
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args::parse(argv)?;
    match command.as_str() {
        "train" => train::train(&train::TrainConfig {
            pool: args.required("pool")?.into(),
            backgrounds: args.required("backgrounds")?.into(),
            out: args.required("out")?.into(),
            model_type: args.parsed("model-type", rustpotter::ModelType::Large)?,
            epochs: args.parsed("epochs", 1000)?,
            learning_rate: args.parsed("lr", 0.03)?,
        }),
        "detect" => {
            if args.positional.is_empty() {
                bail!("detect: no folders given");
            }
            detect::detect(
                args.required("model")?.as_ref(),
                args.required("out")?.as_ref(),
                args.parsed("threshold", detect::DEFAULT_THRESHOLD)?,
                &args.positional,
            )
        }
        _ => bail!("usage: rustpotter-bench train|detect ... (see src/main.rs)"),
    }
    .with_context(|| format!("rustpotter-bench {command}"))
}
