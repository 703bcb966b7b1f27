//! Using a trained network: [`evaluate`] on labelled samples, [`predict`]
//! class probabilities of images.
//!
//! Both run forward passes in batches of [`EVAL_BATCH`] images on the
//! engine's threads, split by tiles of the output, so an image's logits
//! never depend on the batch it is in, nor on the thread count.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::kernels::eltwise::softmax_in_place;
use crate::nn::{Network, Workspace};
use crate::samples::{Images, Samples};
use crate::{Error, Result};

/// Images per forward pass in evaluation and prediction.
pub const EVAL_BATCH: usize = 500;

/// Metrics of a network on labelled samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Share of images classified right.
    pub accuracy: f64,
    /// `classes × classes` counts, row = true class, column = prediction.
    pub confusion: Vec<Vec<u32>>,
}

/// Loss, accuracy and confusion matrix of `net` on `samples`.
///
/// Fails if the samples do not fit the network (image size, a label not
/// below its class count) or are empty.
pub fn evaluate(engine: &Engine, net: &Network, samples: &Samples) -> Result<Evaluation> {
    let arch = net.architecture();
    samples.check(arch.rows, arch.cols, arch.classes)?;
    if samples.is_empty() {
        return Err(Error::Config("no images to evaluate".into()));
    }
    let classes = arch.classes;
    engine.install(|| {
        let par = engine.parallelism();
        let mut ws = Workspace::new(net, EVAL_BATCH.min(samples.len()), false);
        let order: Vec<u32> = (0..samples.len() as u32).collect();
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut confusion = vec![vec![0u32; classes]; classes];
        for rows in order.chunks(ws.batch()) {
            ws.forward(net, samples, rows, par);
            let (l, c) = ws.totals(rows.len());
            loss += l;
            correct += c;
            for (i, &r) in rows.iter().enumerate() {
                let guess = argmax(ws.logits(classes, i));
                confusion[samples.labels[r as usize] as usize][guess] += 1;
            }
        }
        if !loss.is_finite() {
            return Err(non_finite());
        }
        let n = samples.len() as f64;
        Ok(Evaluation {
            loss: loss / n,
            accuracy: correct as f64 / n,
            confusion,
        })
    })
}

/// Class probabilities (softmax of the logits) of the images `indices` of
/// `images` (each `rows × cols` of the network).
///
/// Fails if `images` does not hold whole images of the network's size or
/// an index is out of range.
pub fn predict(
    engine: &Engine,
    net: &Network,
    images: Images,
    indices: &[usize],
) -> Result<Vec<Vec<f32>>> {
    let arch = net.architecture();
    let k = arch.inputs();
    if !images.len().is_multiple_of(k) {
        return Err(Error::Config(format!(
            "{} input values are not whole images of {}x{}",
            images.len(),
            arch.rows,
            arch.cols
        )));
    }
    let count = images.len() / k;
    if let Some(&bad) = indices.iter().find(|&&i| i >= count) {
        return Err(Error::Config(format!(
            "image index {bad} is out of range (there are {count} images)"
        )));
    }
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    // Labels are not known here: predict against class 0 and ignore the loss.
    let labels = vec![0u8; count];
    let samples = Samples {
        images,
        labels: &labels,
        rows: arch.rows,
        cols: arch.cols,
    };
    let rows: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
    engine.install(|| {
        let par = engine.parallelism();
        let mut ws = Workspace::new(net, EVAL_BATCH.min(indices.len()), false);
        let mut out = Vec::with_capacity(indices.len());
        for chunk in rows.chunks(ws.batch()) {
            ws.forward(net, &samples, chunk, par);
            for i in 0..chunk.len() {
                let mut p = ws.logits(arch.classes, i).to_vec();
                softmax_in_place(&mut p);
                if !p.iter().all(|x| x.is_finite()) {
                    return Err(non_finite());
                }
                out.push(p);
            }
        }
        Ok(out)
    })
}

/// The error for outputs that are NaN or infinite: a network whose
/// weights are too large for its inputs has no meaningful answer.
fn non_finite() -> Error {
    Error::Config(
        "the network's outputs are not finite (NaN or infinite): its weights are too large \
         for these inputs"
            .into(),
    )
}

/// The classes holding at least 0.5% of the probability, likeliest first:
/// `probabilities: Sneaker 97.1%, Sandal 2.5%`.
pub fn likeliest(probs: &[f32], names: &[String]) -> String {
    let mut order: Vec<usize> = (0..probs.len().min(names.len())).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let parts: Vec<String> = order
        .iter()
        .filter(|&&c| probs[c] >= 0.005)
        .map(|&c| format!("{} {:.1}%", names[c], probs[c] * 100.0))
        .collect();
    format!("probabilities: {}", parts.join(", "))
}

/// Index of the largest value (the first one on ties, as in Keras and
/// PyTorch); 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    crate::kernels::eltwise::argmax(values)
}
