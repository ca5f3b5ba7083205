//! `casebook serve`: parses its flags, says where the studio listens, and
//! runs it until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port to listen on. The default, the loopback address, lets only this computer
    /// in; 0.0.0.0 would open the studio, which has no login, to the whole network.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Folder holding run folders (the Runs page, and the models offered on each page).
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Largest upload accepted, in MB.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_upload_mb: u32,
    /// Largest folder upload (a training set, photos to group), all its files together, in MB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_folder_mb: u32,
    /// Say nothing per request (by default each answered request is a line on stderr: time,
    /// method, path, status, milliseconds).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let config = casebook_serve::Config {
        runs_dir: args.runs_dir.clone(),
        max_upload: (args.max_upload_mb as usize) << 20,
        max_folder: u64::from(args.max_folder_mb) << 20,
        access_log: (!args.quiet).then(|| {
            casebook_serve::AccessLog(std::sync::Arc::new(|line: &str| eprintln!("{line}")))
        }),
        ..casebook_serve::Config::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the server's runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        let reach = if addr.ip().is_loopback() {
            "this computer only"
        } else {
            "other computers on the network too: the studio has no login"
        };
        println!("casebook studio: http://{addr}/ (reachable from {reach}; Ctrl-C stops it)");
        let stopped = async {
            while !crate::terminal::stop_requested() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        casebook_serve::serve(listener, config, stopped)
            .await
            .context("the server stopped")
    })
}
