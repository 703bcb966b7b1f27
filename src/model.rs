//! Model files: safetensors holding every layer's weights and biases, with
//! the architecture, preprocessing constants, class names and provenance in
//! the metadata; checkpoints add the optimizer state and the history.
//!
//! Tensors: `layers.{l}.weight` (`inputs × outputs`, row-major f32) and
//! `layers.{l}.bias` (`outputs`); a checkpoint adds `optimizer.{name}`.
//! Metadata keys (JSON values): `format` = `"fastnn-model"`, `format_version`,
//! `fastnn_version`, `architecture`, `class_names`, `dataset`; checkpoints add
//! `train_config`, `optimizer_steps`, `history`; a model whose classes are
//! called by other values than their indices (one trained from Python on
//! arbitrary labels) adds `labels`. Python reads them with
//! `safetensors.numpy.load_file` and `safe_open(...).metadata()`.
//!
//! Writes are atomic (a temporary file renamed over the target), so a good file is
//! never replaced by a partial one, and deterministic: the header's keys are
//! sorted, so the same network gives the same bytes.

use crate::limits::MAX_MODEL_BYTES;
use crate::nn::{AnyOptimizer, Architecture, Dense, Network, Optimizer};
use crate::train::{EpochStats, TrainConfig, TrainState, Trainer};
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FORMAT: &str = "fastnn-model";
const FORMAT_VERSION: &str = "1";

/// Where a model came from, stored beside the weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    /// The dataset it was trained on.
    pub dataset: String,
    /// The values its users call the classes by, one per class in class
    /// order, where these are not the class indices: the labels a model
    /// was trained on from Python (`classes_`), so that it predicts them
    /// again after loading. `None` for a model trained on a dataset, whose
    /// labels are the class indices.
    pub labels: Option<Labels>,
}

/// The values the classes of a model are called by (see
/// [`Provenance::labels`]): stored as a JSON array in the metadata key
/// `labels`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Labels {
    /// Integers.
    Integers(Vec<i64>),
    /// Other numbers.
    Numbers(Vec<f64>),
    /// Strings.
    Strings(Vec<String>),
}

impl Labels {
    /// How many labels there are.
    pub fn len(&self) -> usize {
        match self {
            Labels::Integers(v) => v.len(),
            Labels::Numbers(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Saves `net` to `path` as safetensors (atomically).
pub fn save_model(path: &Path, net: &Network, provenance: &Provenance) -> Result<()> {
    crate::files::write_bytes(path, &model_bytes(net, provenance)?)
}

/// The bytes [`save_model`] writes, for keeping a model in memory (the
/// Python binding pickles models through them); [`load_bytes`] reads them.
///
/// Fails if `provenance.labels` does not hold one label per class.
pub fn model_bytes(net: &Network, provenance: &Provenance) -> Result<Vec<u8>> {
    let meta = base_metadata(net, provenance)?;
    serialize(net, meta, &[]).map_err(|e| Error::Config(format!("cannot serialize: {e}")))
}

/// A model read back, with what its file said about it.
#[derive(Debug)]
pub struct Loaded {
    /// The network.
    pub network: Network,
    /// Where it came from.
    pub provenance: Provenance,
    /// For checkpoints: the training state to resume from (see
    /// [`Trainer::resume`]).
    pub checkpoint: Option<TrainState>,
}

/// Loads and validates a model or checkpoint file: every tensor's dtype and
/// shape against the architecture in the metadata.
pub fn load_model(path: &Path) -> Result<Loaded> {
    let bytes = crate::files::read_bounded(path, MAX_MODEL_BYTES, "a model")?;
    load_bytes(path, &bytes)
}

/// [`load_model`] on a file's bytes already in memory; `path` only names the file
/// in errors.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Loaded> {
    let bad = |msg: String| Error::invalid(path, msg);
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| bad("no metadata: not a fastnn model".into()))?;
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(format!("metadata has no `{key}`: not a fastnn model")))
    };
    if get("format")? != FORMAT {
        return Err(bad(format!("metadata format is not `{FORMAT}`")));
    }
    let version = get("format_version")?;
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "model format version {version} is not supported (this fastnn reads {FORMAT_VERSION})"
        )));
    }
    let arch: Architecture = serde_json::from_str(get("architecture")?)
        .map_err(|e| bad(format!("metadata `architecture` is invalid: {e}")))?;
    let class_names: Vec<String> = serde_json::from_str(get("class_names")?)
        .map_err(|e| bad(format!("metadata `class_names` is invalid: {e}")))?;
    arch.validate().map_err(|e| bad(e.to_string()))?;
    // Fetches one f32 tensor of the exact expected shape, allocating only
    // after the file showed it holds that many values.
    let fetch = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let t = tensors
            .tensor(name)
            .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor `{name}` is {:?}, not F32", t.dtype())));
        }
        if t.shape() != shape {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                t.shape()
            )));
        }
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor `{name}` holds NaN or infinite values")));
        }
        Ok(values)
    };
    let mut layers = Vec::new();
    let mut fan_in = arch.inputs();
    let last = arch.hidden.len();
    for (l, width) in arch.widths().enumerate() {
        let weight = fetch(&format!("layers.{l}.weight"), &[fan_in, width])?;
        let bias = fetch(&format!("layers.{l}.bias"), &[width])?;
        let activation = if l == last {
            crate::nn::Activation::Identity
        } else {
            arch.activation
        };
        layers.push(Dense {
            inputs: fan_in,
            outputs: width,
            activation,
            weight: weight.into(),
            bias: bias.into(),
        });
        fan_in = width;
    }
    let expected = 2 * layers.len();
    let network = Network::from_parts(arch, layers, class_names).map_err(|e| bad(e.to_string()))?;
    let labels = match meta.get("labels") {
        None => None,
        Some(text) => {
            let labels: Labels = serde_json::from_str(text).map_err(|_| {
                bad("metadata `labels` is not an array of integers, numbers or strings".into())
            })?;
            if labels.len() != network.architecture().classes {
                return Err(bad(format!(
                    "metadata `labels` has {} labels for {} classes",
                    labels.len(),
                    network.architecture().classes
                )));
            }
            Some(labels)
        }
    };
    let provenance = Provenance {
        dataset: meta.get("dataset").cloned().unwrap_or_default(),
        labels,
    };
    let checkpoint = match meta.get("train_config") {
        None => {
            if tensors.len() != expected {
                return Err(bad(format!(
                    "{} tensors where the architecture has {expected}",
                    tensors.len()
                )));
            }
            None
        }
        Some(cfg) => {
            let config: TrainConfig = serde_json::from_str(cfg)
                .map_err(|e| bad(format!("metadata `train_config` is invalid: {e}")))?;
            let steps: u64 = get("optimizer_steps")?
                .parse()
                .map_err(|_| bad("metadata `optimizer_steps` is not a number".into()))?;
            let history: Vec<EpochStats> = serde_json::from_str(get("history")?)
                .map_err(|e| bad(format!("metadata `history` is invalid: {e}")))?;
            config
                .validate()
                .map_err(|e| bad(format!("metadata `train_config`: {e}")))?;
            let mut optimizer = AnyOptimizer::new(config.optimizer, &network.tensor_lens());
            optimizer.restore(steps, &mut |name, out| {
                let values = fetch(&format!("optimizer.{name}"), &[out.len()])?;
                out.copy_from_slice(&values);
                Ok(())
            })?;
            let expected = expected + optimizer.state().len();
            if tensors.len() != expected {
                return Err(bad(format!(
                    "{} tensors where the checkpoint has {expected}",
                    tensors.len()
                )));
            }
            let state = TrainState {
                config,
                optimizer,
                history,
            };
            state.check().map_err(|e| bad(e.to_string()))?;
            Some(state)
        }
    };
    Ok(Loaded {
        network,
        provenance,
        checkpoint,
    })
}

/// Fuzz body (`fuzz/fuzz_targets/model_load.rs`, replayed by the tests):
/// loading arbitrary bytes never panics; an error is one line naming the
/// file; a loaded model has the shapes its architecture promises and saves
/// and loads back to the same bits.
#[doc(hidden)]
pub fn fuzz_load(data: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    match load_bytes(path, data) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.safetensors: ") && !msg.contains('\n'),
                "{msg}"
            );
        }
        Ok(loaded) => {
            let net = &loaded.network;
            let arch = net.architecture();
            let mut fan_in = arch.inputs();
            for (layer, width) in net.layers().iter().zip(arch.widths()) {
                assert_eq!(layer.weight.len(), fan_in * width);
                assert_eq!(layer.bias.len(), width);
                fan_in = width;
            }
            let bytes = model_bytes(net, &loaded.provenance).expect("a loaded model serializes");
            let back = load_bytes(path, &bytes).expect("a saved model loads");
            assert_eq!(back.network.layers(), net.layers());
        }
    }
}

/// The checkpoint file for the state after `epochs` epochs.
pub fn checkpoint_path(dir: &Path, epochs: usize) -> PathBuf {
    dir.join(format!("epoch-{epochs:03}.safetensors"))
}

/// Saves the trainer's network, optimizer state and history after its last
/// epoch into `dir` (created if needed) as [`checkpoint_path`]; returns
/// that path.
pub fn save_checkpoint(dir: &Path, trainer: &Trainer, provenance: &Provenance) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = checkpoint_path(dir, trainer.epochs_done());
    crate::files::write_bytes(&path, &checkpoint_bytes(trainer, provenance)?)?;
    Ok(path)
}

/// The bytes [`save_checkpoint`] writes: the trainer's network, optimizer
/// state and history, for keeping a run in memory; [`load_bytes`] reads
/// them, and [`Trainer::resume`] continues from what it read.
pub fn checkpoint_bytes(trainer: &Trainer, provenance: &Provenance) -> Result<Vec<u8>> {
    let net = trainer.network();
    let mut meta = base_metadata(net, provenance)?;
    let json = |v: serde_json::Result<String>| v.expect("plain data serializes");
    meta.insert(
        "train_config".into(),
        json(serde_json::to_string(trainer.config())),
    );
    meta.insert(
        "optimizer_steps".into(),
        trainer.optimizer().steps().to_string(),
    );
    // Timings are left out, so that the same run saves the same bytes.
    let history: Vec<EpochStats> = trainer
        .history()
        .iter()
        .map(|e| EpochStats {
            seconds: 0.0,
            ..e.clone()
        })
        .collect();
    meta.insert("history".into(), json(serde_json::to_string(&history)));
    let state = trainer.optimizer().state();
    let extra: Vec<(String, &[f32])> = state
        .into_iter()
        .map(|(name, data)| (format!("optimizer.{name}"), data))
        .collect();
    serialize(net, meta, &extra).map_err(|e| Error::Config(format!("cannot serialize: {e}")))
}

fn base_metadata(net: &Network, provenance: &Provenance) -> Result<HashMap<String, String>> {
    let json = |v: serde_json::Result<String>| v.expect("plain data serializes");
    let mut meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        (
            "fastnn_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "architecture".to_string(),
            json(serde_json::to_string(net.architecture())),
        ),
        (
            "class_names".to_string(),
            json(serde_json::to_string(net.class_names())),
        ),
        ("dataset".to_string(), provenance.dataset.clone()),
    ]);
    if let Some(labels) = &provenance.labels {
        if labels.len() != net.architecture().classes {
            return Err(Error::Config(format!(
                "{} labels for {} classes",
                labels.len(),
                net.architecture().classes
            )));
        }
        meta.insert("labels".to_string(), json(serde_json::to_string(labels)));
    }
    Ok(meta)
}

/// The safetensors bytes of the layers plus `extra` tensors, with the
/// header's keys sorted (safetensors writes the metadata in hash-map
/// order, which would make every save of the same network differ).
fn serialize(
    net: &Network,
    meta: HashMap<String, String>,
    extra: &[(String, &[f32])],
) -> std::result::Result<Vec<u8>, String> {
    let views = tensor_views(net, extra);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
    let header_end = bytes
        .get(..8)
        .map(|n| 8 + u64::from_le_bytes(n.try_into().expect("8 bytes")) as usize)
        .filter(|&end| end <= bytes.len())
        .ok_or("safetensors wrote no header")?;
    // serde_json's maps are ordered by key.
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..header_end]).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    // Keep the data 8-byte aligned, as safetensors does.
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - header_end);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[header_end..]);
    Ok(out)
}

/// The layers' tensors plus `extra` ones, as safetensors views.
fn tensor_views<'a>(
    net: &'a Network,
    extra: &[(String, &'a [f32])],
) -> Vec<(String, TensorView<'a>)> {
    let mut named: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        named.push((
            format!("layers.{l}.weight"),
            vec![layer.inputs, layer.outputs],
            &layer.weight,
        ));
        named.push((format!("layers.{l}.bias"), vec![layer.outputs], &layer.bias));
    }
    for (name, data) in extra {
        named.push((name.clone(), vec![data.len()], data));
    }
    named
        .into_iter()
        .map(|(name, shape, data)| {
            let bytes: &[u8] = bytemuck::cast_slice(data);
            let view = TensorView::new(Dtype::F32, shape, bytes)
                .expect("shape matches the data by construction");
            (name, view)
        })
        .collect()
}
