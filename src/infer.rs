//! Using a trained network: [`evaluate`] on labelled samples (loss,
//! accuracy, confusion matrix, per-class precision, recall and F1, top-k
//! accuracy), [`predict`] class probabilities of images.
//!
//! Both run forward passes in batches of [`EVAL_BATCH`] images on the
//! engine's threads, split by tiles of the output, so an image's logits
//! never depend on the batch it is in, nor on the thread count.

use std::fmt;

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
    /// Precision, recall and F1 of each class (from the confusion matrix).
    #[serde(default)]
    pub per_class: Vec<ClassMetrics>,
    /// Share of images whose class is among the `k` likeliest, for
    /// `k` = 2, 3 and 5 (those below the class count).
    #[serde(default)]
    pub top_k: Vec<TopK>,
}

/// One class's metrics (as sklearn's `classification_report`; a class
/// never predicted has precision 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Of the images predicted as this class, the share that are.
    pub precision: f64,
    /// Of the images of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Images of this class.
    pub support: u32,
}

/// Top-k accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    /// How many of the likeliest classes count.
    pub k: usize,
    /// Share of images whose class is among them.
    pub accuracy: f64,
}

/// The `k` of the top-k accuracies [`evaluate`] reports.
const TOP_KS: [usize; 3] = [2, 3, 5];

/// Per-class metrics from a confusion matrix (row = true class).
pub fn class_metrics(confusion: &[Vec<u32>]) -> Vec<ClassMetrics> {
    (0..confusion.len())
        .map(|c| {
            let hit = confusion[c][c] as f64;
            let support: u32 = confusion[c].iter().sum();
            let predicted: u32 = confusion.iter().map(|row| row[c]).sum();
            let ratio = |n: f64, d: u32| if d == 0 { 0.0 } else { n / d as f64 };
            let (precision, recall) = (ratio(hit, predicted), ratio(hit, support));
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect()
}

impl Evaluation {
    /// The unweighted mean of the classes' F1 scores.
    pub fn macro_f1(&self) -> f64 {
        let n = self.per_class.len().max(1) as f64;
        self.per_class.iter().map(|c| c.f1).sum::<f64>() / n
    }

    /// A classification report (sklearn's layout) naming the classes.
    pub fn report<'a>(&'a self, class_names: &'a [String]) -> ClassificationReport<'a> {
        ClassificationReport {
            eval: self,
            names: class_names,
        }
    }
}

/// Per-class precision, recall, F1 and support, their averages and the
/// top-k accuracies, as a table ([`Evaluation::report`]).
#[derive(Clone, Copy, Debug)]
pub struct ClassificationReport<'a> {
    eval: &'a Evaluation,
    names: &'a [String],
}

impl fmt::Display for ClassificationReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = &self.eval.per_class;
        let width = self
            .names
            .iter()
            .map(|n| n.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12);
        writeln!(
            f,
            "{:<width$}  precision  recall  f1-score  support",
            "class"
        )?;
        for (c, m) in per.iter().enumerate() {
            let name = self
                .names
                .get(c)
                .map_or_else(|| c.to_string(), |n| n.clone());
            writeln!(
                f,
                "{name:<width$}  {:>9.4}  {:>6.4}  {:>8.4}  {:>7}",
                m.precision, m.recall, m.f1, m.support
            )?;
        }
        let total: u32 = per.iter().map(|m| m.support).sum();
        let n = per.len().max(1) as f64;
        let mean = |g: fn(&ClassMetrics) -> f64| per.iter().map(g).sum::<f64>() / n;
        let weighted = |g: fn(&ClassMetrics) -> f64| {
            per.iter().map(|m| g(m) * m.support as f64).sum::<f64>() / total.max(1) as f64
        };
        for (label, avg) in [
            ("macro avg", &mean as &dyn Fn(_) -> f64),
            ("weighted avg", &weighted),
        ] {
            writeln!(
                f,
                "{label:<width$}  {:>9.4}  {:>6.4}  {:>8.4}  {total:>7}",
                avg(|m| m.precision),
                avg(|m| m.recall),
                avg(|m| m.f1)
            )?;
        }
        let tops: Vec<String> = self
            .eval
            .top_k
            .iter()
            .map(|t| format!("top-{} accuracy {:.4}", t.k, t.accuracy))
            .collect();
        if !tops.is_empty() {
            writeln!(f, "{}", tops.join(", "))?;
        }
        Ok(())
    }
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
    let batch = EVAL_BATCH.min(samples.len());
    engine.run(largest_product(net, batch), |par| {
        let mut ws = Workspace::new(net, batch, false);
        let order: Vec<u32> = (0..samples.len() as u32).collect();
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut confusion = vec![vec![0u32; classes]; classes];
        let ks: Vec<usize> = TOP_KS.into_iter().filter(|&k| k < classes).collect();
        let mut in_top = vec![0usize; ks.len()];
        for rows in order.chunks(ws.batch()) {
            ws.forward(net, samples, rows, par);
            let (l, c) = ws.totals(rows.len());
            loss += l;
            correct += c;
            for (i, &r) in rows.iter().enumerate() {
                let logits = ws.logits(classes, i);
                let label = samples.labels[r as usize] as usize;
                confusion[label][argmax(logits)] += 1;
                // Classes strictly likelier than the true one.
                let above = logits.iter().filter(|&&z| z > logits[label]).count();
                for (hits, &k) in in_top.iter_mut().zip(&ks) {
                    *hits += usize::from(above < k);
                }
            }
        }
        if !loss.is_finite() {
            return Err(non_finite());
        }
        let n = samples.len() as f64;
        Ok(Evaluation {
            loss: loss / n,
            accuracy: correct as f64 / n,
            per_class: class_metrics(&confusion),
            confusion,
            top_k: ks
                .iter()
                .zip(&in_top)
                .map(|(&k, &hits)| TopK {
                    k,
                    accuracy: hits as f64 / n,
                })
                .collect(),
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
    let batch = EVAL_BATCH.min(indices.len());
    engine.run(largest_product(net, batch), |par| {
        let mut ws = Workspace::new(net, batch, false);
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

/// The largest `m · n · k` of a forward pass over `batch` images: what
/// decides whether its products split over threads.
fn largest_product(net: &Network, batch: usize) -> usize {
    net.layers()
        .iter()
        .map(|l| batch.saturating_mul(l.inputs).saturating_mul(l.outputs))
        .max()
        .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_metrics_by_hand() {
        // True class 0: 3 right, 1 taken for class 1; class 1: 2 right;
        // class 2: never predicted, 1 taken for class 0.
        let confusion = vec![vec![3, 1, 0], vec![0, 2, 0], vec![1, 0, 0]];
        let m = class_metrics(&confusion);
        assert_eq!((m[0].precision, m[0].recall, m[0].support), (0.75, 0.75, 4));
        assert!((m[0].f1 - 0.75).abs() < 1e-12);
        assert_eq!((m[1].precision, m[1].recall), (2.0 / 3.0, 1.0));
        assert!((m[1].f1 - 0.8).abs() < 1e-12);
        assert_eq!((m[2].precision, m[2].recall, m[2].f1), (0.0, 0.0, 0.0));
    }
}
