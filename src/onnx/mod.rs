//! ONNX export: a network as a standard ONNX graph (opset [`OPSET`]), with
//! its preprocessing as operators, so that raw pixels go in and class
//! probabilities come out — in onnxruntime or any other ONNX runtime.
//!
//! The graph, for a model trained on u8 pixels:
//!
//! ```text
//! pixels uint8 [N, rows·cols]
//!   → Cast(float) → preprocessing → Gemm → act → … → Gemm → logits
//! logits → Softmax(axis 1) → probabilities float [N, classes]
//! logits → ArgMax(axis 1)  → class int64 [N]
//! ```
//!
//! The preprocessing operators: `scale` is `Mul(1/255)`; `standardize`
//! `Mul(1/(255·std))` then `Add(-mean/std)`; `keras-normalize` reshapes to
//! `[N, rows, cols]`, takes each column's L2 norm (`ReduceSumSquare` over
//! the rows, `Sqrt`, at least 1 so that an empty column stays zero: a
//! non-empty column of integer pixels has a norm of at least 1), multiplies
//! by its `Reciprocal` and flattens back. A model trained on f32 inputs
//! (preprocessing `none`) takes `input` float [N, rows·cols] instead.
//! Each dense layer is one `Gemm` with its weight (`inputs × outputs`, as
//! fastnn stores it) and bias as initializers; hidden activations are
//! `Relu`, `Sigmoid` or `Tanh`. The class names (and a Python model's
//! labels) are in the model's metadata properties.
//!
//! The message types are generated at build time from the vendored
//! `onnx.proto` (ONNX 1.23) by rust-protobuf (see `build.rs`).

use std::fmt;
use std::path::{Path, PathBuf};

use protobuf::{EnumOrUnknown, Message, MessageField};

use crate::model::{Provenance, load_model};
use crate::nn::{Activation, Network};
use crate::preprocess::FittedPreprocess;
use crate::{Error, Result};

/// The ONNX message types (generated; for tests that read a graph back).
#[doc(hidden)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx_proto/mod.rs"));
}

use proto::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto, type_proto,
};

/// The operator set the graphs use: opset 17 of the default domain (ONNX
/// 1.12, 2022), which every current runtime reads (onnxruntime since 1.12).
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`].
pub const IR_VERSION: i64 = 8;

/// The name of the graph's input for a model trained on u8 pixels.
pub const PIXELS_INPUT: &str = "pixels";
/// The name of the graph's input for a model trained on f32 inputs.
pub const VALUES_INPUT: &str = "input";
/// The name of the class-probabilities output.
pub const PROBABILITIES_OUTPUT: &str = "probabilities";
/// The name of the predicted-class output (class indices).
pub const CLASS_OUTPUT: &str = "class";

/// What [`export`] wrote, described in one line by its `Display`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The ONNX file.
    pub path: PathBuf,
    /// The graph's input name ([`PIXELS_INPUT`] or [`VALUES_INPUT`]).
    pub input: &'static str,
    /// Values per image.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// The preprocessing inside the graph.
    pub preprocess: &'static str,
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dtype, pre) = if self.input == PIXELS_INPUT {
            (
                "uint8",
                format!(", preprocessing `{}` in the graph", self.preprocess),
            )
        } else {
            ("float", String::new())
        };
        write!(
            f,
            "wrote {}: ONNX opset {OPSET}, input `{}` {dtype} [N, {}]{pre}; outputs \
             `{PROBABILITIES_OUTPUT}` float [N, {}] and `{CLASS_OUTPUT}` int64 [N]",
            self.path.display(),
            self.input,
            self.inputs,
            self.classes
        )
    }
}

/// `fastnn export`: a model file and where its ONNX graph goes.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ExportOptions {
    /// The model file (safetensors, from `train --save` or Python).
    #[cfg_attr(feature = "cli", arg(long))]
    pub model: PathBuf,
    /// Write the ONNX graph here.
    #[cfg_attr(feature = "cli", arg(long))]
    pub onnx: PathBuf,
}

impl ExportOptions {
    /// Runs [`export`].
    pub fn run(&self) -> Result<Exported> {
        export(&self.model, &self.onnx)
    }
}

/// Reads the model file `model` and writes its ONNX graph to `out`
/// (atomically): `fastnn export`.
pub fn export(model: &Path, out: &Path) -> Result<Exported> {
    let loaded = load_model(model)?;
    save_onnx(out, &loaded.network, &loaded.provenance)?;
    let arch = loaded.network.architecture();
    Ok(Exported {
        path: out.to_path_buf(),
        input: input_name(&arch.preprocess),
        inputs: arch.inputs(),
        classes: arch.classes,
        preprocess: arch.preprocess.name(),
    })
}

/// Writes the ONNX graph of `net` ([`to_onnx`]) to `path`, atomically.
pub fn save_onnx(path: &Path, net: &Network, provenance: &Provenance) -> Result<()> {
    crate::files::write_bytes(path, &to_onnx(net, provenance)?)
}

fn input_name(pre: &FittedPreprocess) -> &'static str {
    match pre {
        FittedPreprocess::Identity => VALUES_INPUT,
        _ => PIXELS_INPUT,
    }
}

/// The ONNX model (serialized `ModelProto`) of `net`; `provenance` adds
/// the dataset and labels to its metadata.
pub fn to_onnx(net: &Network, provenance: &Provenance) -> Result<Vec<u8>> {
    let arch = net.architecture();
    let inputs = to_i64(arch.inputs())?;
    let mut g = Graph::default();
    let input = input_name(&arch.preprocess);
    let elem = if input == PIXELS_INPUT {
        DataType::UINT8
    } else {
        DataType::FLOAT
    };
    g.proto
        .input
        .push(value_info(input, elem, &[Dim::Batch, Dim::Fixed(inputs)]));

    let mut x = input.to_string();
    if input == PIXELS_INPUT {
        x = g.node("Cast", &[&x], vec![int_attr("to", DataType::FLOAT as i64)]);
    }
    x = preprocess(&mut g, x, &arch.preprocess, arch.rows, arch.cols)?;
    let last = net.layers().len() - 1;
    for (l, layer) in net.layers().iter().enumerate() {
        let w = g.initializer(
            &format!("layers.{l}.weight"),
            &[to_i64(layer.inputs)?, to_i64(layer.outputs)?],
            &layer.weight,
        );
        let b = g.initializer(
            &format!("layers.{l}.bias"),
            &[to_i64(layer.outputs)?],
            &layer.bias,
        );
        x = g.node("Gemm", &[&x, &w, &b], Vec::new());
        let act = match layer.activation {
            Activation::Identity => None,
            Activation::Relu => Some("Relu"),
            Activation::Sigmoid => Some("Sigmoid"),
            Activation::Tanh => Some("Tanh"),
        };
        if let Some(op) = act.filter(|_| l != last) {
            x = g.node(op, &[&x], Vec::new());
        }
    }
    let classes = to_i64(arch.classes)?;
    g.named_node(
        "Softmax",
        &[&x],
        PROBABILITIES_OUTPUT,
        vec![int_attr("axis", 1)],
    );
    g.named_node(
        "ArgMax",
        &[&x],
        CLASS_OUTPUT,
        vec![int_attr("axis", 1), int_attr("keepdims", 0)],
    );
    g.proto.output.push(value_info(
        PROBABILITIES_OUTPUT,
        DataType::FLOAT,
        &[Dim::Batch, Dim::Fixed(classes)],
    ));
    g.proto
        .output
        .push(value_info(CLASS_OUTPUT, DataType::INT64, &[Dim::Batch]));
    g.proto.name = Some("fastnn".into());

    let json = |v: serde_json::Result<String>| v.expect("plain data serializes");
    let mut meta = vec![
        (
            "class_names",
            json(serde_json::to_string(net.class_names())),
        ),
        ("architecture", json(serde_json::to_string(arch))),
        ("dataset", provenance.dataset.clone()),
    ];
    if let Some(labels) = &provenance.labels {
        meta.push(("labels", json(serde_json::to_string(labels))));
    }
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
            ..Default::default()
        }],
        producer_name: Some("fastnn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!(
            "fastnn {} network: input `{input}` [N, {inputs}], preprocessing `{}`, outputs \
             `{PROBABILITIES_OUTPUT}` [N, {classes}] and `{CLASS_OUTPUT}` [N]",
            describe_widths(net),
            arch.preprocess.name()
        )),
        graph: MessageField::some(g.proto),
        metadata_props: meta
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    model
        .write_to_bytes()
        .map_err(|e| Error::Config(format!("cannot encode the ONNX graph: {e}")))
}

/// `784-128-10 relu`.
fn describe_widths(net: &Network) -> String {
    let arch = net.architecture();
    let widths: Vec<String> = std::iter::once(arch.inputs())
        .chain(arch.widths())
        .map(|w| w.to_string())
        .collect();
    format!("{} {}", widths.join("-"), arch.activation.name())
}

/// Appends the preprocessing operators to `x` (float `[N, rows·cols]`).
fn preprocess(
    g: &mut Graph,
    x: String,
    pre: &FittedPreprocess,
    rows: usize,
    cols: usize,
) -> Result<String> {
    Ok(match *pre {
        FittedPreprocess::Identity => x,
        FittedPreprocess::Scale => {
            let s = g.constant(1.0 / 255.0);
            g.node("Mul", &[&x, &s], Vec::new())
        }
        FittedPreprocess::Standardize { .. } => {
            let mut scale = [0.0];
            pre.fill_scale(&[], 1, &mut scale);
            let s = g.constant(scale[0]);
            let shift = g.constant(pre.shift());
            let y = g.node("Mul", &[&x, &s], Vec::new());
            g.node("Add", &[&y, &shift], Vec::new())
        }
        FittedPreprocess::KerasNormalize => {
            let image = g.shape(&[-1, to_i64(rows)?, to_i64(cols)?]);
            let flat = g.shape(&[-1, to_i64(rows * cols)?]);
            let one = g.constant(1.0);
            let x3 = g.node("Reshape", &[&x, &image], Vec::new());
            let squares = g.node(
                "ReduceSumSquare",
                &[&x3],
                vec![ints_attr("axes", &[1]), int_attr("keepdims", 1)],
            );
            let norm = g.node("Sqrt", &[&squares], Vec::new());
            let norm = g.node("Max", &[&norm, &one], Vec::new());
            let inverse = g.node("Reciprocal", &[&norm], Vec::new());
            let y = g.node("Mul", &[&x3, &inverse], Vec::new());
            g.node("Reshape", &[&y, &flat], Vec::new())
        }
    })
}

fn to_i64(n: usize) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Config(format!("{n} does not fit an ONNX dimension")))
}

/// A graph being built: nodes and initializers with generated names.
#[derive(Default)]
struct Graph {
    proto: GraphProto,
    count: usize,
}

impl Graph {
    /// Adds an `op` node reading `inputs`; returns its output's name.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.count += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.count);
        self.named_node(op, inputs, &out, attrs);
        out
    }

    /// Adds an `op` node writing `output`.
    fn named_node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        self.proto.node.push(NodeProto {
            op_type: Some(op.into()),
            name: Some(format!("{op}_{}", self.proto.node.len())),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        });
    }

    /// Adds an f32 initializer of shape `dims`; returns its name.
    fn initializer(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.proto.initializer.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(DataType::FLOAT as i32),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name.into()
    }

    /// Adds a scalar f32 constant; returns its name.
    fn constant(&mut self, value: f32) -> String {
        self.count += 1;
        let name = format!("const_{}", self.count);
        self.initializer(&name, &[], &[value])
    }

    /// Adds an int64 shape for `Reshape`; returns its name.
    fn shape(&mut self, dims: &[i64]) -> String {
        self.count += 1;
        let name = format!("shape_{}", self.count);
        self.proto.initializer.push(TensorProto {
            name: Some(name.clone()),
            dims: vec![dims.len() as i64],
            data_type: Some(DataType::INT64 as i32),
            int64_data: dims.to_vec(),
            ..Default::default()
        });
        name
    }
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        type_: Some(EnumOrUnknown::new(AttributeType::INT)),
        i: Some(value),
        ..Default::default()
    }
}

fn ints_attr(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        type_: Some(EnumOrUnknown::new(AttributeType::INTS)),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A dimension of a graph input or output.
enum Dim {
    /// The number of images, any.
    Batch,
    Fixed(i64),
}

fn value_info(name: &str, elem: DataType, dims: &[Dim]) -> ValueInfoProto {
    let shape = TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(match d {
                    Dim::Batch => tensor_shape_proto::dimension::Value::DimParam("N".into()),
                    Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let tensor = type_proto::Tensor {
        elem_type: Some(elem as i32),
        shape: MessageField::some(shape),
        ..Default::default()
    };
    ValueInfoProto {
        name: Some(name.into()),
        type_: MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}
