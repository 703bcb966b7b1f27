//! What the bindings rely on: ONNX export (the graph read back: operators,
//! opset, shapes, weights bit for bit; onnxruntime runs it in
//! `bindings/python/tests/test_onnx.py`), `fastnn export`, models as
//! bytes with their labels, and flat networks (scikit-learn's 2-D input).

use crate::train::{bits, fit, toy};
use crate::util::{engine, temp_dir};
use fastnn::onnx::proto::onnx::{ModelProto, tensor_proto::DataType};
use fastnn::onnx::{self, OPSET};
use fastnn::{
    Activation, Images, Labels, Network, Preprocess, Provenance, Samples, TrainConfig, Trainer,
    checkpoint_bytes, evaluate, load_bytes, model_bytes, predict, save_model,
};
use protobuf::Message;
use std::path::Path;
use std::process::Command;

fn config(pre: Preprocess, act: Activation) -> TrainConfig {
    TrainConfig {
        hidden: vec![10, 7],
        activation: act,
        preprocess: pre,
        epochs: 2,
        batch_size: 16,
        ..TrainConfig::default()
    }
}

fn read_back(bytes: &[u8]) -> ModelProto {
    ModelProto::parse_from_bytes(bytes).expect("the export parses as an ONNX ModelProto")
}

fn ops(m: &ModelProto) -> Vec<String> {
    m.graph
        .node
        .iter()
        .map(|n| n.op_type().to_string())
        .collect()
}

fn input_type(m: &ModelProto) -> (String, i32, Vec<String>) {
    let input = &m.graph.input[0];
    let Some(fastnn::onnx::proto::onnx::type_proto::Value::TensorType(t)) = &input.type_.value
    else {
        panic!("the input is not a tensor");
    };
    let dims = t
        .shape
        .dim
        .iter()
        .map(|d| {
            if d.has_dim_param() {
                d.dim_param().to_string()
            } else {
                d.dim_value().to_string()
            }
        })
        .collect();
    (input.name().to_string(), t.elem_type(), dims)
}

#[test]
fn the_graph_holds_the_network_and_its_preprocessing() {
    let (pixels, labels) = toy(120);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cases = [
        (
            Preprocess::Scale,
            Activation::Relu,
            vec!["Cast", "Mul"],
            "Relu",
        ),
        (
            Preprocess::Standardize,
            Activation::Tanh,
            vec!["Cast", "Mul", "Add"],
            "Tanh",
        ),
        (
            Preprocess::KerasNormalize,
            Activation::Sigmoid,
            vec![
                "Cast",
                "Reshape",
                "ReduceSumSquare",
                "Sqrt",
                "Max",
                "Reciprocal",
                "Mul",
                "Reshape",
            ],
            "Sigmoid",
        ),
    ];
    for (pre, act, pre_ops, act_op) in cases {
        let net = fit(&config(pre, act), &s, 3, 1);
        let m = read_back(&onnx::to_onnx(&net, &Provenance::default()).unwrap());
        assert_eq!(m.ir_version(), onnx::IR_VERSION);
        assert_eq!(m.opset_import.len(), 1);
        assert_eq!(
            (m.opset_import[0].domain(), m.opset_import[0].version()),
            ("", OPSET)
        );
        let mut expected: Vec<&str> = pre_ops;
        expected.extend(["Gemm", act_op, "Gemm", act_op, "Gemm", "Softmax", "ArgMax"]);
        assert_eq!(ops(&m), expected, "{pre:?}");
        assert_eq!(
            input_type(&m),
            (
                "pixels".into(),
                DataType::UINT8 as i32,
                vec!["N".into(), "36".into()]
            )
        );
        let outputs: Vec<&str> = m.graph.output.iter().map(|o| o.name()).collect();
        assert_eq!(outputs, ["probabilities", "class"]);
        // Every layer's weights and biases, bit for bit, in fastnn's layout.
        for (l, layer) in net.layers().iter().enumerate() {
            let w = m
                .graph
                .initializer
                .iter()
                .find(|t| t.name() == format!("layers.{l}.weight"))
                .expect("a weight initializer");
            assert_eq!(w.dims, [layer.inputs as i64, layer.outputs as i64]);
            let back: Vec<f32> = w
                .raw_data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                layer.weight.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        let names = m
            .metadata_props
            .iter()
            .find(|p| p.key() == "class_names")
            .expect("class names in the metadata");
        assert_eq!(names.value(), r#"["class 0","class 1","class 2"]"#);
    }
}

/// Preprocessing `none`, from f32 training values or `--preprocess none`
/// on pixels: the graph takes the values as floats.
#[test]
fn a_network_trained_on_f32_values_takes_floats() {
    let (pixels, labels) = toy(120);
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let s = Samples::from_f32(&values, &labels, 1, 36);
    let net = fit(&config(Preprocess::Scale, Activation::Relu), &s, 3, 1);
    assert_eq!(net.architecture().preprocess.name(), "none");
    let m = read_back(&onnx::to_onnx(&net, &Provenance::default()).unwrap());
    assert_eq!(
        input_type(&m),
        (
            "input".into(),
            DataType::FLOAT as i32,
            vec!["N".into(), "36".into()]
        )
    );
    assert_eq!(ops(&m)[0], "Gemm");
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let raw = fit(&config(Preprocess::Identity, Activation::Relu), &s, 3, 1);
    let m = read_back(&onnx::to_onnx(&raw, &Provenance::default()).unwrap());
    assert_eq!(input_type(&m).1, DataType::FLOAT as i32);
    assert_eq!(ops(&m)[0], "Gemm");
}

#[test]
fn fastnn_export_writes_the_graph_or_one_line_of_error() {
    let dir = temp_dir();
    let (pixels, labels) = toy(60);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let net = fit(&config(Preprocess::Scale, Activation::Relu), &s, 3, 1);
    let model = dir.path().join("m.safetensors");
    save_model(&model, &net, &Provenance::default()).unwrap();
    let out = dir.path().join("m.onnx");
    let run = |model: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fastnn"))
            .args(["export", "--model"])
            .arg(model)
            .arg("--onnx")
            .arg(&out)
            .output()
            .unwrap()
    };
    let ok = run(&model);
    assert!(ok.status.success());
    let text = String::from_utf8(ok.stdout).unwrap();
    assert!(
        text.contains("ONNX opset 17, input `pixels` uint8 [N, 36]"),
        "{text}"
    );
    let written = std::fs::read(&out).unwrap();
    assert_eq!(
        written,
        onnx::to_onnx(&net, &Provenance::default()).unwrap()
    );

    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a model").unwrap();
    let failed = run(&bad);
    assert!(!failed.status.success());
    let err = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.safetensors"), "{err}");
    // The good export is left as it was.
    assert_eq!(std::fs::read(&out).unwrap(), written);
}

fn trained_net() -> (Network, Vec<u8>, Vec<u8>) {
    let (pixels, labels) = toy(90);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    (
        fit(&config(Preprocess::Scale, Activation::Relu), &s, 3, 1),
        pixels,
        labels,
    )
}

#[test]
fn models_round_trip_through_bytes_with_their_labels() {
    let (net, _, _) = trained_net();
    for labels in [
        None,
        Some(Labels::Integers(vec![-3, 7, 10])),
        Some(Labels::Numbers(vec![0.5, 1.0, 2.5])),
        Some(Labels::Strings(vec!["cat".into(), "dog".into(), "".into()])),
    ] {
        let prov = Provenance {
            dataset: String::new(),
            labels,
        };
        let bytes = model_bytes(&net, &prov).unwrap();
        let back = load_bytes(Path::new("mem"), &bytes).unwrap();
        assert_eq!(back.provenance, prov);
        assert_eq!(bits(&back.network), bits(&net));
        // The file save_model writes is the same bytes.
        let dir = temp_dir();
        let path = dir.path().join("m.safetensors");
        save_model(&path, &net, &prov).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
    let wrong = Provenance {
        dataset: String::new(),
        labels: Some(Labels::Integers(vec![1, 2])),
    };
    let err = model_bytes(&net, &wrong).unwrap_err().to_string();
    assert_eq!(err, "2 labels for 3 classes");
}

#[test]
fn bad_labels_in_a_file_are_refused() {
    let (net, _, _) = trained_net();
    let prov = Provenance {
        dataset: String::new(),
        labels: Some(Labels::Integers(vec![1, 2, 3])),
    };
    let bytes = model_bytes(&net, &prov).unwrap();
    // The same length of other JSON: an object, then too few labels.
    for (from, to, msg) in [
        ("[1,2,3]", "{}     ", "is not an array"),
        ("[1,2,3]", "[1,2]  ", "has 2 labels for 3 classes"),
    ] {
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .expect("the labels in the header");
        let mut edited = bytes.clone();
        edited[at..at + to.len()].copy_from_slice(to.as_bytes());
        let err = load_bytes(Path::new("m.safetensors"), &edited)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("m.safetensors: metadata `labels` ") && err.contains(msg),
            "{err}"
        );
    }
}

#[test]
fn a_checkpoint_in_memory_resumes_to_the_same_bits() {
    let (pixels, labels) = toy(90);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cfg = TrainConfig {
        epochs: 3,
        ..config(Preprocess::Scale, Activation::Relu)
    };
    let straight = fit(&cfg, &s, 3, 2);
    let net = cfg.build_network(&s, straight.class_names()).unwrap();
    let mut trainer = Trainer::new(&engine(2), net, cfg.clone()).unwrap();
    trainer.set_epochs(1).unwrap();
    trainer.fit(&s, None, &mut |_| Ok(())).unwrap();
    let bytes = checkpoint_bytes(&trainer, &Provenance::default()).unwrap();
    let loaded = load_bytes(Path::new("mem"), &bytes).unwrap();
    let state = loaded.checkpoint.expect("a checkpoint");
    let mut resumed = Trainer::resume(&engine(1), loaded.network, state).unwrap();
    resumed.set_epochs(3).unwrap();
    resumed.fit(&s, None, &mut |_| Ok(())).unwrap();
    assert_eq!(bits(resumed.network()), bits(&straight));
}

#[test]
fn a_flat_network_takes_images_of_as_many_pixels() {
    let (pixels, labels) = toy(90);
    let flat = Samples::from_u8(&pixels, &labels, 1, 36);
    let square = Samples::from_u8(&pixels, &labels, 6, 6);
    let net = fit(&config(Preprocess::Scale, Activation::Relu), &flat, 3, 1);
    let e = engine(2);
    assert_eq!(
        evaluate(&e, &net, &square).unwrap(),
        evaluate(&e, &net, &flat).unwrap()
    );
    // Not the other way round, and not another pixel count.
    let shaped = fit(&config(Preprocess::Scale, Activation::Relu), &square, 3, 1);
    let err = evaluate(&e, &shaped, &flat).unwrap_err().to_string();
    assert_eq!(err, "images are 1x36 but the network takes 6x6");
    let small = Samples::from_u8(&pixels[..90 * 35], &labels, 5, 7);
    assert!(evaluate(&e, &net, &small).is_err());
    let p = predict(&e, &net, Images::U8(&pixels), &[0, 1]).unwrap();
    assert_eq!(p.len(), 2);
}
