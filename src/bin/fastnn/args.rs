//! Command-line arguments (the contract in DESIGN.md), turned into library
//! configurations.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// fastnn: train small neural networks on MNIST-format images, fast.
#[derive(Parser, Debug)]
#[command(name = "fastnn", version = crate::report::VERSION.as_str(), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
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
    /// Measure kernels or training speed.
    Bench(BenchArgs),
    /// Inspect IDX files and verify the shipped datasets.
    Data(DataArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PresetArg {
    /// Fashion-MNIST, 784-128-10, pixels/255, 9 epochs.
    Fashion,
    /// MNIST, 784-128-128-10, keras-normalize, 3 epochs.
    Mnist,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ActivationArg {
    Relu,
    Sigmoid,
    Tanh,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LossArg {
    /// Softmax cross-entropy.
    Xent,
    /// Mean squared error of the softmax against one-hot targets.
    Mse,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Sgd,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PreprocessArg {
    /// pixels / 255.
    Scale,
    /// tf.keras.utils.normalize(x, axis=1).
    KerasNormalize,
    /// (pixels/255 - mean) / std of the training set.
    Standardize,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitArg {
    /// Glorot (Xavier) uniform, Keras's default.
    Glorot,
    /// He (Kaiming) uniform.
    He,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KernelArg {
    /// fastnn's SIMD kernels.
    Simd,
    /// fastnn's blocking with a scalar micro-kernel.
    Scalar,
    /// The matrixmultiply crate.
    Matrixmultiply,
}

/// Threads for the rayon pool.
#[derive(Args, Debug, Clone)]
pub struct ThreadsArg {
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Which tutorial program to reproduce; other flags override its settings.
    #[arg(long, value_enum, default_value = "fashion")]
    pub preset: PresetArg,
    /// `fashion`, `mnist`, or a folder with the four IDX files (default: the
    /// preset's dataset).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Hidden layer widths, comma-separated (e.g. 128,128).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub hidden: Option<Vec<u32>>,
    /// Hidden-layer activation.
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Loss function.
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate (default 0.001 for Adam, 0.01 for SGD).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// SGD momentum, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// Passes over the training set.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub epochs: Option<u32>,
    /// Images per step.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch_size: Option<u32>,
    /// Pixel preprocessing.
    #[arg(long, value_enum)]
    pub preprocess: Option<PreprocessArg>,
    /// Weight initializer.
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// Seed of the initial weights and the shuffles.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Which kernels run the matrix products.
    #[arg(long, value_enum, default_value = "simd")]
    pub kernel: KernelArg,
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
    /// Continue training from a checkpoint.
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
    /// `fashion`, `mnist`, or a folder (default: the one the model was trained on).
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
    /// `fashion`, `mnist`, or a folder (default: the one the model was trained on).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Write the predictions as a picture here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// `fashion`, `mnist`, or a folder.
    #[arg(long, default_value = "fashion")]
    pub dataset: String,
    /// Which split.
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitArg,
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

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BenchWhat {
    /// GEMM kernels on the trainer's shapes against matrixmultiply.
    Kernels,
    /// Training epochs of both presets at batch 32 and 256.
    Train,
    /// Evaluating the test set, and batch-1 latency.
    Infer,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure (default: both).
    #[arg(value_enum)]
    pub what: Option<BenchWhat>,
    /// Thread counts to measure, comma-separated (default: 1 and all cores).
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
}
