//! `casebook style ...`: neural style transfer.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use casebook_core::observe::Observer;
use casebook_style::data::{load_picture, save_picture};
use casebook_style::infer::{check_memory, Init, Method, StyleInput, TransferConfig};
use casebook_style::model::{FeatureNet, Pool};
use casebook_style::run::{run_transfer, TransferRecord};
use clap::{Args, Subcommand};

use crate::args::{choice, RunArgs, SeedArg};

#[derive(Subcommand)]
pub enum StyleCommand {
    /// Draw a picture's content in the style of one or more others by optimising its pixels
    /// (Gatys et al.): content is one deep layer's activations (conv4_2), style the Gram matrices
    /// (channel correlations) of five layers (conv1_1 … conv5_1).
    ///
    /// Both losses are relative (divided by the size of their target), so the weights mean the
    /// same on any feature network: raise --style-weight for more style, --content-weight for
    /// more of the photo, --tv-weight for smoother pictures.
    Transfer(TransferArgs),
}

#[derive(Args)]
pub struct TransferArgs {
    /// The picture whose content is kept.
    content: PathBuf,
    /// One or more style pictures; several are blended (see --blend).
    #[arg(required = true)]
    styles: Vec<PathBuf>,
    /// Shares of the style pictures, comma-separated (e.g. 0.7,0.3) [default: equal].
    #[arg(long, value_delimiter = ',')]
    blend: Vec<f32>,
    /// Where to write the picture (.png or .jpg).
    #[arg(long)]
    out: PathBuf,
    /// Longer side of the result in pixels.
    #[arg(long, default_value_t = TransferConfig::default().size)]
    size: u32,
    /// Optimisation steps.
    #[arg(long, default_value_t = TransferConfig::default().iterations)]
    iterations: usize,
    /// Weight of the content loss (more keeps more of the content picture).
    #[arg(long, default_value_t = TransferConfig::default().content_weight)]
    content_weight: f32,
    /// Weight of the style loss (more draws more of the style).
    #[arg(long, default_value_t = TransferConfig::default().style_weight)]
    style_weight: f32,
    /// Weight of total variation (differences between neighbouring pixels).
    #[arg(long, default_value_t = TransferConfig::default().tv_weight)]
    tv_weight: f32,
    /// Where the picture starts.
    #[arg(long, value_parser = choice::<Init>(), default_value = "content")]
    init: Init,
    /// How the pixels are optimised.
    #[arg(long, value_parser = choice::<Method>(), default_value = "adam")]
    optimizer: Method,
    /// Step size [default: 0.02 for adam (pixels are 0..1), 1 for lbfgs].
    #[arg(long)]
    lr: Option<f64>,
    /// Feature network: `builtin` (random weights, nothing to download) or a VGG-19 file you
    /// have, PyTorch .pth with torchvision's keys (features.0.weight …) or safetensors.
    #[arg(long, default_value = "builtin", value_name = "builtin|FILE")]
    features: String,
    /// Pooling between the network's blocks.
    #[arg(long, value_parser = choice::<Pool>(), default_value = "avg")]
    pool: Pool,
    /// Keep the content's colours: the result's luminance with the content's chroma (YCbCr),
    /// applied after the transfer.
    #[arg(long)]
    preserve_colors: bool,
    #[command(flatten)]
    seed: SeedArg,
    /// Also write the picture every --every iterations into DIR (frame_0020.png, …), to watch
    /// it form (the run's report shows them small either way).
    #[arg(long, value_name = "DIR")]
    frames: Option<PathBuf>,
    /// Iterations between frames (in --frames and in the report's strip).
    #[arg(long, default_value_t = 20)]
    every: usize,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(cmd: StyleCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        StyleCommand::Transfer(args) => transfer_cmd(args, observer),
    }
}

fn transfer_cmd(args: TransferArgs, observer: &dyn Observer) -> Result<()> {
    let config = TransferConfig {
        size: args.size,
        iterations: args.iterations,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        init: args.init,
        method: args.optimizer,
        learning_rate: args.lr.unwrap_or(match args.optimizer {
            Method::Adam => TransferConfig::default().learning_rate,
            Method::Lbfgs => 1.0,
        }),
        preserve_colours: args.preserve_colors,
        seed: args.seed.seed,
    };
    config.validate()?;
    ensure!(
        args.every >= 1,
        "--every must be at least 1 (frames every N iterations)"
    );
    let blend = if args.blend.is_empty() {
        vec![1.0; args.styles.len()]
    } else {
        args.blend.clone()
    };
    ensure!(
        blend.len() == args.styles.len(),
        "--blend has {} shares for {} style pictures",
        blend.len(),
        args.styles.len()
    );
    // Fail on a bad output name before the work, not after it.
    casebook_style::data::check_picture_path(&args.out)?;
    let device = casebook_core::device::compute_device().autodiff();
    let net = if args.features == "builtin" {
        FeatureNet::builtin(args.pool, &device)
    } else {
        FeatureNet::from_file(PathBuf::from(&args.features).as_path(), args.pool, &device)?
    };
    check_memory(&net, config.size)?;
    let content = load_picture(&args.content, config.size)?;
    let styles = args
        .styles
        .iter()
        .zip(&blend)
        .map(|(path, &weight)| {
            Ok(StyleInput {
                picture: load_picture(path, config.size)?,
                weight,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let record = TransferRecord {
        config: config.clone(),
        content: args.content.display().to_string(),
        styles: args
            .styles
            .iter()
            .map(|p| p.display().to_string())
            .zip(blend)
            .collect(),
        features: net.source.clone(),
        pool: args.pool,
        frame_every: args.every,
    };
    let started = Instant::now();
    let frames = args.frames.clone();
    let done = run_transfer(
        &net,
        &content,
        &styles,
        &record,
        args.run.create("style")?,
        observer,
        &mut |iteration, picture| match &frames {
            Some(dir) => save_picture(&dir.join(format!("frame_{iteration:04}.png")), picture)
                .context("cannot write a frame"),
            None => Ok(()),
        },
    )?;
    let result = &done.transfer;
    save_picture(&args.out, &result.picture)?;
    let (first, last) = (
        result
            .history
            .first()
            .expect("losses before the first step"),
        result.history.last().expect("losses after the last step"),
    );
    if let Some(done) = result.stopped_after {
        observer.note(&format!("stopped after {done} iterations, as asked"));
    }
    println!(
        "wrote {} ({}×{}) in {:.1} s: style loss {:.4} → {:.4}, content loss {:.4} → {:.4} ({} network)",
        args.out.display(),
        result.picture.width(),
        result.picture.height(),
        started.elapsed().as_secs_f64(),
        first.style,
        last.style,
        first.content,
        last.content,
        match &net.source {
            casebook_style::model::Source::Builtin => "built-in random".to_string(),
            casebook_style::model::Source::File(f) => format!("VGG-19 from {f}"),
        }
    );
    println!("report: {}", done.run.report_path().display());
    Ok(())
}
