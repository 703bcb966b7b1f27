//! Command-line arguments (the contract in DESIGN.md). The option types
//! and enums are the library's own, with clap's parsers derived on them.

use clap::{Args, Parser, Subcommand};
use fastnn::bench::BenchWhat;
use fastnn::kernels::KernelChoice;
use fastnn::{Split, TrainOptions};
use std::path::PathBuf;

/// fastnn: train small neural networks on MNIST-format images, fast.
#[derive(Parser, Debug)]
#[command(name = "fastnn", version = crate::report::VERSION.as_str(), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once; the train flags are many
pub enum Command {
    /// Train a network, evaluate it on the test set and show predictions,
    /// like the TensorFlow/Keras tutorial programs.
    Train(TrainArgs),
    /// Evaluate a saved model on a dataset's test set.
    Eval(EvalArgs),
    /// Classify test images (or your own picture) with a saved model.
    Predict(PredictArgs),
    /// Show dataset images with their class names (PNG or terminal preview).
    Show(ShowArgs),
    /// Measure kernels, training and inference speed.
    Bench(BenchArgs),
    /// Inspect IDX files; verify or install the shipped datasets.
    Data(DataArgs),
    /// Train many runs at once: every combination of train flags given as
    /// lists, and seeds; resumable, shardable (`sweep merge` joins shards).
    Sweep(fastnn::sweep::SweepArgs),
    /// Write a saved model as an ONNX graph (raw pixels in, probabilities out).
    Export(fastnn::onnx::ExportOptions),
}

/// The engine's threads.
#[derive(Args, Debug, Clone)]
pub struct ThreadsArg {
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub options: TrainOptions,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Which kernels run the matrix products.
    #[arg(long, value_enum, default_value = "simd")]
    pub kernel: KernelChoice,
    /// Save the trained model (safetensors) here.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Write a machine-readable summary of the run here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write pictures (samples, predictions, curves, confusion matrix) here.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Save a checkpoint after every epoch into this folder.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue training from a checkpoint (only --epochs and --lr may
    /// change its settings).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Print no pictures in the terminal.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// `fashion`, `mnist`, or a folder [default: the one the model was
    /// trained on].
    #[arg(long)]
    pub dataset: Option<String>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Write the evaluation as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["index", "image"])))]
pub struct PredictArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Test-set image indices.
    #[arg(long, num_args = 1..)]
    pub index: Vec<usize>,
    /// A PNG or JPEG picture of your own.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// `fashion`, `mnist`, or a folder [default: the one the model was
    /// trained on].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Write the predictions as a picture here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// `fashion`, `mnist`, or a folder.
    #[arg(long, default_value = "fashion")]
    pub dataset: String,
    /// Which split.
    #[arg(long, value_enum, default_value = "train")]
    pub split: Split,
    /// First image index.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// How many images.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// Write a PNG here instead of drawing in the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure [default: all].
    #[arg(value_enum)]
    pub what: Option<BenchWhat>,
    /// Thread counts to measure, comma-separated [default: 1 and all cores].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<Vec<u16>>,
    /// Fewer repetitions, for a quick look.
    #[arg(long)]
    pub quick: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Type, dimensions and count of IDX files (and the class histogram of
    /// label files).
    Info {
        /// IDX files, raw or .gz.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check the shipped datasets against their checksums.
    Verify,
    /// Copy the shipped datasets into the per-user data folder, so that an
    /// installed fastnn finds them from anywhere.
    Install {
        /// The data folder to copy from [default: $FASTNN_DATA or the
        /// source checkout].
        #[arg(long)]
        from: Option<PathBuf>,
        /// The folder to copy to [default: the per-user data folder].
        #[arg(long)]
        to: Option<PathBuf>,
    },
}
